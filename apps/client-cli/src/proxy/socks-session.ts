/**
 * One SOCKS5 client connection (RFC 1928, RFC 1929), from the first byte to the relay.
 *
 *   1. Greeting: methods offered; we pick username/password when credentials are configured (and
 *      refuse clients that do not offer it), else "no authentication".
 *   2. RFC 1929 sub-negotiation when picked; wrong credentials get status 1 and the connection closed.
 *   3. Request: CONNECT -> ProxyCore.dial (names resolved through the tunnel) -> reply with the
 *      tunnel-side address -> relay. UDP ASSOCIATE -> a UDP relay (udp-association.ts) for as long
 *      as this TCP connection lives. BIND -> "command not supported".
 *
 * Hostile input: everything read before the relay is bounded (MAX_NEGOTIATION_BYTES) and parsed by
 * socks5-wire.ts; a malformed message gets the fitting reply and the connection closed; the whole
 * negotiation must finish within NEGOTIATION_TIMEOUT_MS. Nothing here throws past the socket.
 */
import type net from 'node:net';
import {
  buildAuthReply,
  buildMethodSelection,
  buildReply,
  CMD_CONNECT,
  CMD_UDP_ASSOCIATE,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  METHOD_USERPASS,
  parseAuth,
  parseGreeting,
  parseRequest,
  REP,
  type ReplyCode,
} from './socks5-wire.js';
import type { DialFailure, ProxyCore } from './proxy-core.js';
import { UdpAssociation } from './udp-association.js';

export const MAX_NEGOTIATION_BYTES = 1024;
export const NEGOTIATION_TIMEOUT_MS = 15_000;

export function replyFor(reason: DialFailure): ReplyCode {
  switch (reason) {
    case 'refused':
      return REP.CONNECTION_REFUSED;
    case 'timeout':
    case 'unreachable':
    case 'resolveFailed':
    case 'noDns':
      return REP.HOST_UNREACHABLE;
    case 'netUnreachable':
    case 'tunnelDown':
      return REP.NETWORK_UNREACHABLE;
    default:
      return REP.GENERAL_FAILURE;
  }
}

type Phase = 'greeting' | 'auth' | 'request' | 'busy';

export function handleSocksClient(core: ProxyCore, local: net.Socket): void {
  let buf: Buffer = Buffer.alloc(0);
  let phase: Phase = 'greeting';
  const timer = setTimeout(() => {
    core.refuse('handshakeTimeout');
    local.destroy();
  }, NEGOTIATION_TIMEOUT_MS);
  local.on('error', () => undefined);
  local.once('close', () => clearTimeout(timer));

  const refuse = (reply: Buffer | null, why: Parameters<ProxyCore['refuse']>[0]) => {
    core.refuse(why);
    phase = 'busy';
    local.removeListener('data', onData);
    clearTimeout(timer);
    if (reply) local.end(reply);
    else local.destroy();
  };

  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (buf.length > MAX_NEGOTIATION_BYTES) {
      refuse(null, 'badRequest');
      return;
    }
    step();
  };

  const step = () => {
    for (;;) {
      if (phase === 'greeting') {
        const r = parseGreeting(buf);
        if (r.type === 'incomplete') return;
        if (r.type === 'error') return refuse(null, 'badRequest');
        buf = buf.subarray(r.consumed);
        const want = core.authRequired ? METHOD_USERPASS : METHOD_NO_AUTH;
        if (!r.value.methods.includes(want)) {
          return refuse(
            buildMethodSelection(METHOD_NONE_ACCEPTABLE),
            core.authRequired ? 'authFailed' : 'unsupported',
          );
        }
        local.write(buildMethodSelection(want));
        phase = core.authRequired ? 'auth' : 'request';
      } else if (phase === 'auth') {
        const r = parseAuth(buf);
        if (r.type === 'incomplete') return;
        if (r.type === 'error') return refuse(buildAuthReply(false), 'badRequest');
        buf = buf.subarray(r.consumed);
        if (!core.checkCredentials(r.value.username, r.value.password)) {
          return refuse(buildAuthReply(false), 'authFailed');
        }
        local.write(buildAuthReply(true));
        phase = 'request';
      } else if (phase === 'request') {
        const r = parseRequest(buf);
        if (r.type === 'incomplete') return;
        if (r.type === 'error') {
          const rep =
            r.reason === 'badCommand'
              ? REP.COMMAND_NOT_SUPPORTED
              : r.reason === 'badAddressType'
                ? REP.ADDRESS_TYPE_NOT_SUPPORTED
                : REP.GENERAL_FAILURE;
          return refuse(buildReply(rep), 'badRequest');
        }
        const rest = buf.subarray(r.consumed);
        buf = Buffer.alloc(0);
        phase = 'busy';
        local.removeListener('data', onData);
        local.pause();
        clearTimeout(timer);
        const { command, address } = r.value;
        if (command === CMD_CONNECT) void connect(address.host, address.port, rest);
        else if (command === CMD_UDP_ASSOCIATE) void associate(address.port);
        else refuse(buildReply(REP.COMMAND_NOT_SUPPORTED), 'unsupported');
        return;
      } else return;
    }
  };

  const connect = async (host: string, port: number, rest: Buffer) => {
    try {
      const remote = await core.dial(host, port);
      if (local.destroyed) {
        remote.destroy();
        return;
      }
      local.write(buildReply(REP.SUCCEEDED, remote.localAddress, remote.localPort));
      core.relay(local, remote, rest);
    } catch (e) {
      const reason = (e as { reason?: DialFailure }).reason ?? 'other';
      if (!local.destroyed) local.end(buildReply(replyFor(reason)));
    }
  };

  /** RFC 1928: DST.PORT is where the client will send from (0: not known yet, learn it). */
  const associate = async (expectedPort: number) => {
    // Datagrams are taken from the address of this TCP connection's peer only.
    const clientAddress = local.remoteAddress ?? '';
    try {
      const assoc = await UdpAssociation.open(core, {
        bindAddress: local.localAddress ?? '127.0.0.1',
        clientAddress,
        clientPort: expectedPort,
      });
      if (local.destroyed) {
        assoc.close();
        return;
      }
      const bound = assoc.address();
      local.write(buildReply(REP.SUCCEEDED, bound.address, bound.port));
      // The association lives as long as this TCP connection (RFC 1928 section 7).
      local.resume();
      local.on('data', () => undefined);
      local.once('close', () => assoc.close());
      local.once('end', () => local.end());
    } catch {
      if (!local.destroyed) local.end(buildReply(REP.GENERAL_FAILURE));
    }
  };

  local.on('data', onData);
  // The client half-closed before finishing the negotiation: nothing more will come.
  local.once('end', () => {
    if (phase !== 'busy') refuse(null, 'badRequest');
  });
}

/**
 * Netstack: the Node-style face of the engine. It owns a Stack and drives it: a poll after every
 * batch of input (one microtask per tick, however many packets arrived), after API calls that queued
 * work, and at the engine's next deadline (one timer for the whole stack, unref'd: the packet source
 * — TUN or tunnel socket — is what keeps a process alive).
 *
 *   const ns = new Netstack({ addresses: ['10.8.0.12'], mtu: 1420, sink: (p) => tun.write(p) });
 *   tun.onPackets((batch) => { for (let i = 0; i < batch.count; i++) ns.input(batch.packet(i)); });
 *   const sock = ns.connect({ host: '198.51.100.7', port: 443 });       // a net.Socket-like Duplex
 *   ns.listen({ port: 8080 }).on('connection', (s) => s.pipe(s));        // a port listener
 *   ns.listenAny({ deferred: true }).on('request', (req) => ...);       // tun2socks / userspace egress
 *
 * input() copies what it keeps; the packet may be reused after it returns. sink receives views valid
 * only during the call. Sockets and servers emit from the stack's poll (never from inside input()).
 * close() aborts everything; afterwards input() is ignored and connect/listen throw
 * CORRIDOR_ERR_NETSTACK_CLOSED.
 */
import { Stack, type IcmpEchoRequest, type StackOptions, type StackStats } from '../stack.js';
import { AnyServer, TcpServer } from './servers.js';
import { TcpSocket, type TcpSocketOptions } from './tcp-socket.js';
import { UdpAnyServer, UdpSocket } from './udp-socket.js';

export interface NetstackOptions extends Omit<StackOptions, 'wake'> {
  /**
   * Drive the deadline timer with setTimeout (default true). Simulations that poll the stack in
   * virtual time pass false.
   */
  timers?: boolean;
}

export interface ConnectOptions extends TcpSocketOptions {
  host: string;
  port: number;
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export class Netstack {
  readonly stack: Stack;
  private pollQueued = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;
  private readonly useTimers: boolean;

  constructor(options: NetstackOptions) {
    this.useTimers = options.timers ?? true;
    this.stack = new Stack({ ...options, wake: () => this.schedulePoll() });
  }

  /** Feeds one incoming IP packet; a poll follows in a microtask. */
  input(packet: Uint8Array): void {
    this.stack.input(packet);
    this.schedulePoll();
  }

  /** Queues a poll for the end of this tick (idempotent). */
  schedulePoll(): void {
    if (this.pollQueued || this.stack.isClosed) return;
    this.pollQueued = true;
    queueMicrotask(() => this.runPoll());
  }

  /** Polls now and re-arms the deadline timer. */
  runPoll(): void {
    this.pollQueued = false;
    this.stack.poll();
    this.armTimer();
  }

  private armTimer(): void {
    if (!this.useTimers || this.stack.isClosed) return;
    const at = this.stack.nextDeadline();
    if (at === -Infinity) {
      this.schedulePoll();
      return;
    }
    // One timer for the stack. A later deadline keeps the armed timer (it fires early, polls, and
    // re-arms), so restarting timers on every ACK costs no clearTimeout/setTimeout churn.
    if (at === Infinity || (this.timer !== null && this.timerAt <= at)) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    const wait = Math.max(0, Math.ceil(at - this.stack.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      // Poll from the check phase, after libuv's poll phase has delivered pending packets: an RTO
      // that fires after the process was busy then sees the ACKs that were already waiting.
      setImmediate(() => this.runPoll());
    }, wait);
    this.timer.unref?.();
  }

  /** Opens a TCP connection; 'connect' follows, or 'error' (ECONNREFUSED, ETIMEDOUT, ...). */
  connect(options: ConnectOptions, onConnect?: () => void): TcpSocket {
    const tcb = this.stack.tcpConnect(options);
    const s = new TcpSocket(this, tcb, false, options);
    if (options.keepAlive) tcb.setKeepAlive(true, options.keepAliveInitialDelay || undefined);
    if (onConnect) s.once('connect', onConnect);
    this.schedulePoll();
    return s;
  }

  /** Listens on a port (one local address or all); 'connection' per accepted socket. */
  listen(
    options: { port: number; address?: string } & TcpSocketOptions,
    onConnection?: (s: TcpSocket) => void,
  ): TcpServer {
    const l = this.stack.tcpListen(options);
    const server = new TcpServer(this, l, options);
    if (onConnection) server.on('connection', onConnection);
    return server;
  }

  /** The accept-any listener (see AnyServer and ConnectionRequest). One per stack. */
  listenAny(options: { deferred?: boolean } & TcpSocketOptions = {}): AnyServer {
    const l = this.stack.tcpListenAny({ deferred: options.deferred ?? false });
    return new AnyServer(this, l, options);
  }

  /** Binds a UDP port (0 or omitted = ephemeral). */
  bindUdp(options: { port?: number; address?: string } = {}): UdpSocket {
    return new UdpSocket(this, this.stack.udpBind(options));
  }

  /** The accept-any UDP listener: 'flow' per new remote/destination pair. */
  listenAnyUdp(options: { maxPending?: number } = {}): UdpAnyServer {
    return new UdpAnyServer(this, this.stack.udpListenAny(options));
  }

  /** Echo requests to non-local addresses (userspace egress); answer with replyEcho(). */
  onIcmpEcho(handler: ((req: IcmpEchoRequest) => void) | null): void {
    this.stack.setIcmpEchoHandler(handler);
  }

  replyEcho(req: IcmpEchoRequest): boolean {
    const ok = this.stack.sendEchoReply(req);
    return ok;
  }

  stats(): StackStats {
    return this.stack.stats();
  }

  /** Aborts every connection and stops the timer. Idempotent. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.stack.close();
  }
}

/**
 * Glue between the connection supervisor (connection.ts) and the HTTPS-front transports: opening a
 * tls / wss link with the connect's options, the kill-switch holes they need, and the candidate order
 * of `auto` (remembered transport first; tls and wss only when a trust anchor is configured).
 */
import net from 'node:net';
import type { AllowedPeer } from '../../system/firewall.js';
import type { Link, LinkTransport } from '../link.js';
import type { FrontOptions } from './front-options.js';
import { autoOrder, type NetworkMemory } from './network-memory.js';
import { openTlsLink, openWssLink } from './stream-links.js';

export const FRONT_CONNECT_TIMEOUT_MS = 10_000;

export function openFrontLink(
  transport: 'tls' | 'wss',
  nodeIp: string,
  nodeHost: string,
  front: FrontOptions | undefined,
): Promise<Link> {
  if (!front || front.trust === null) {
    return Promise.reject(
      new Error(`${transport} needs --tls-pin or --tls-ca (the node certificate's trust anchor)`),
    );
  }
  const address = {
    ip: nodeIp,
    port: front.port,
    serverName: front.serverName ?? (net.isIP(nodeHost) === 0 ? nodeHost : null),
    wssPath: front.wssPath,
    trust: front.trust,
    proxy: front.proxy,
    padding: front.padding,
  };
  return transport === 'tls'
    ? openTlsLink(address, FRONT_CONNECT_TIMEOUT_MS)
    : openWssLink(address, FRONT_CONNECT_TIMEOUT_MS);
}

/** Kill-switch holes for the front: the node's HTTPS port, or the proxy when one is used. */
export function frontAllowRules(front: FrontOptions | undefined, nodeIp: string): AllowedPeer[] {
  if (!front || front.trust === null) return [];
  if (front.proxy && net.isIP(front.proxy.host) !== 0)
    return [{ address: front.proxy.host, protocol: 'tcp', port: front.proxy.port }];
  return [{ address: nodeIp, protocol: 'tcp', port: front.port }];
}

export async function autoCandidates(
  memory: NetworkMemory,
  front: FrontOptions | undefined,
  note: (text: string) => void,
): Promise<LinkTransport[]> {
  const remembered = await memory.recall();
  const usable = (t: LinkTransport) => (t === 'tls' || t === 'wss' ? !!front && front.trust !== null : true);
  const order = autoOrder(remembered).filter(usable);
  if (remembered !== null && usable(remembered))
    note(`This network last worked over ${remembered.toUpperCase()}: trying it first.`);
  return order;
}

/**
 * The address whose route must stay outside the tunnel (the router's pin): the proxy when the session
 * runs through one (tls/wss with --proxy given as an IP address), the node otherwise.
 */
export function pinnedEndpoint(
  transport: LinkTransport | null,
  front: FrontOptions | undefined,
  nodeIp: string,
): string {
  if ((transport === 'tls' || transport === 'wss') && front?.proxy && net.isIP(front.proxy.host) !== 0)
    return front.proxy.host;
  return nodeIp;
}

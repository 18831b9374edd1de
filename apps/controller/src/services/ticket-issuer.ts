/**
 * Ticket issuance, the controller's hot path: cached node row + cached signing key + the per-user
 * limit (one store INCR, concurrent with the node check) + one INSERT ... SELECT (device/user checks
 * and the ticket row in one round trip) + Ed25519 signature.
 */
import { randomUUID } from 'node:crypto';
import { parseX25519PublicKey, signTicket, PROTOCOL_VERSION } from '@corridor/protocol';
import type { TicketResponse } from '@corridor/protocol/control';
import { AppError, ERROR_CODES } from '../errors.js';
import type { TicketsRepository } from '../repositories/tickets.js';
import type { NodeDirectory } from './node-directory.js';
import type { SigningKeyService } from './signing-keys.js';
import type { Store } from '../store/store.js';
import { countInWindow, type WindowLimit } from './window-limit.js';

/** Per-user issuance limit: `max` tickets per fixed window of `windowS`, counted in the shared store. */
export type TicketLimit = WindowLimit;

export class TicketIssuer {
  constructor(
    private readonly repo: TicketsRepository,
    private readonly nodes: NodeDirectory,
    private readonly keys: SigningKeyService,
    private readonly ticketTtlS: number,
    private readonly store: Store,
    private readonly limit: TicketLimit,
  ) {}

  /**
   * Counts a ticket request against the user's window (every replica shares the count). Bounds
   * what one account can make the controller store and sign: about `max * ticketTtlS / windowS`
   * unexpired tickets per user at most.
   */
  private async countRequest(userId: string): Promise<void> {
    await countInWindow(this.store, `tickets:user:${userId}`, this.limit, 'ticket');
  }

  async issue(userId: string, nodeId: string, deviceId: string): Promise<TicketResponse> {
    const node = await this.nodes.get(nodeId);
    if (node === undefined) throw new AppError(ERROR_CODES.NOT_FOUND, `node ${nodeId} not found`);
    if (node.staticPublicKey === null)
      throw new AppError(ERROR_CODES.NODE_NOT_ENROLLED, `node ${nodeId} has not enrolled yet`);
    const [online, key] = await Promise.all([
      this.nodes.isOnline(nodeId),
      this.keys.current(),
      this.countRequest(userId),
    ]);
    if (!online) throw new AppError(ERROR_CODES.NODE_OFFLINE, `node ${nodeId} is offline`);

    const issuedAtS = Math.floor(Date.now() / 1000);
    const expiresAtS = Math.min(issuedAtS + this.ticketTtlS, Math.floor(key.notAfter.getTime() / 1000));
    const ticketId = randomUUID();
    const row = await this.repo.insertChecked({
      ticketId,
      userId,
      deviceId,
      nodeId,
      keyId: key.keyId,
      issuedAt: new Date(issuedAtS * 1000),
      expiresAt: new Date(expiresAtS * 1000),
    });
    if (row === null) {
      const why = await this.repo.diagnose(userId, deviceId);
      if (why === 'userDisabled') throw new AppError(ERROR_CODES.ACCOUNT_DISABLED, 'account is disabled');
      if (why === 'deviceRevoked') throw new AppError(ERROR_CODES.FORBIDDEN, 'device has been revoked');
      throw new AppError(ERROR_CODES.NOT_FOUND, `device ${deviceId} not found`);
    }
    const clientKey = parseX25519PublicKey(row.publicKey);
    if (!clientKey.ok) throw new Error(`stored device key of ${deviceId} is malformed`);
    const ticket = signTicket(
      {
        ticketId,
        userId,
        deviceId,
        nodeId,
        clientPublicKey: clientKey.value,
        issuedAt: issuedAtS,
        expiresAt: expiresAtS,
        limits: { bandwidthBytesPerSec: row.bandwidthBytesPerSec, dataQuotaBytes: row.dataQuotaBytes },
      },
      { keyId: key.keyId, privateKey: key.privateKey },
    );
    return {
      ticket: ticket.toString('base64url'),
      ticketId,
      expiresAt: new Date(expiresAtS * 1000).toISOString(),
      node: {
        id: node.id,
        endpoint: { host: node.endpointHost, udpPort: node.udpPort, tcpPort: node.tcpPort },
        publicKey: node.staticPublicKey,
      },
      protocolVersion: PROTOCOL_VERSION,
    };
  }
}

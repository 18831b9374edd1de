/**
 * Online authorisation (`POST /v1/agent/authorize`): may this session start? The node asks only
 * when configured to; the ticket itself was already verified offline (signature, expiry, binding).
 *
 * The checks, in order, and the reason each failure reports (AUTHORIZE_REASONS):
 *   ticket unknown                                   ticketUnknown
 *   issued for another node than the caller          wrongNode
 *   names another user or device than the request    ticketUnknown (no such ticket as presented)
 *   device removed or revoked (key cannot be checked) deviceRevoked
 *   client key differs from the ticket's device key  wrongClientKey
 *   expired                                          ticketExpired
 *   ticket revoked                                   ticketRevoked
 *   device revoked                                   deviceRevoked
 *   user disabled or gone                            userDisabled
 * `cacheSeconds` is the configured cache time, never past the ticket's expiry for an `ok`.
 */
import type { AuthorizeReason, AuthorizeRequest, AuthorizeResponse } from '@corridor/protocol/control';
import type { TicketStatus } from '../repositories/tickets.js';

export function decideAuthorization(
  status: TicketStatus | null,
  req: AuthorizeRequest,
  callerNodeId: string,
  cacheS: number,
  nowMs: number,
): AuthorizeResponse {
  const deny = (reason: AuthorizeReason): AuthorizeResponse => ({
    allow: false,
    reason,
    cacheSeconds: cacheS,
  });
  if (status === null) return deny('ticketUnknown');
  if (status.nodeId !== callerNodeId) return deny('wrongNode');
  if (status.userId !== req.userId || status.deviceId !== req.deviceId) return deny('ticketUnknown');
  if (status.devicePublicKey === null) return deny('deviceRevoked');
  if (status.devicePublicKey !== req.clientPublicKey) return deny('wrongClientKey');
  const left = status.expiresAt.getTime() - nowMs;
  if (left <= 0) return deny('ticketExpired');
  if (status.ticketRevoked) return deny('ticketRevoked');
  if (status.deviceRevoked) return deny('deviceRevoked');
  if (status.userDisabled) return deny('userDisabled');
  return { allow: true, reason: 'ok', cacheSeconds: Math.min(cacheS, Math.floor(left / 1000)) };
}

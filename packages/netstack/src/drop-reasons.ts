// Every reason the stack drops an incoming packet or refuses to create state for it. Closed: add a
// reason here, never an ad-hoc string. Each drop is counted per reason in Stack.stats().drops; a drop
// never throws and never allocates in proportion to attacker-chosen lengths.
export const DROP_REASONS = [
  // IP layer
  'ipShort', // shorter than the fixed header
  'ipBadVersion', // neither 4 nor 6
  'ipBadHeaderLength', // IHL < 5 or beyond the packet
  'ipBadTotalLength', // total/payload length disagrees with the bytes received
  'ipBadChecksum',
  'ipBadSource', // multicast/broadcast/0/8/loopback/v4-mapped source, or one of our own addresses
  'ipNotForUs', // destination not local and nothing accepts it (martian destinations never: 127/8, 0/8, ::1, ::, ::ffff:0:0/96)
  'ipUnsupportedProtocol',
  'ipv6BadExtensionHeader', // truncated or misplaced extension header
  'ipv6TooManyExtensionHeaders',
  'ipv6RoutingHeader', // a routing header with segments left: we are not a router
  'fragmentRefused', // reassembly disabled for this stack
  'fragmentInvalid', // bad offset/length, overlap (RFC 5722), or past 65535 bytes
  'fragmentMemoryLimit', // the reassembly budget (bytes or datagrams) is exhausted
  'fragmentTimeout', // an incomplete datagram expired (counted per datagram)
  // ICMP
  'icmpShort',
  'icmpBadChecksum',
  'icmpUnhandled', // a type we do not act on (redirects, router advertisements, ...)
  'icmpErrorNoMatch', // an ICMP error quoting a flow we do not have, or a sequence out of range
  'icmpRateLimited', // an ICMP error we would have sent was suppressed by the rate limiter
  // UDP
  'udpShort',
  'udpBadLength',
  'udpBadChecksum',
  'udpNoListener',
  'udpBadPort', // destination port 0 (no socket can have it; an accept-any flow could not be relayed)
  'udpFlowLimit', // the UDP flow table is full
  'udpQueueFull', // the receiving socket's queue is full
  // TCP
  'tcpShort',
  'tcpBadOffset',
  'tcpBadChecksum',
  'tcpBadFlags', // SYN+FIN, SYN+RST, no ACK in a synchronized state, ...
  'tcpBadPort', // port 0
  'tcpNoListener', // answered with RST
  'tcpConnectionLimit', // the connection table is full
  'tcpSynBacklogFull', // backlog full and SYN cookies off (cookies are counted in stats().synCookiesSent)
  'tcpBadSynCookie',
  'tcpListenerRefused', // an accept-any handler rejected the request
  'tcpOutOfWindow', // unacceptable sequence number (answered with an ACK)
  'tcpBadAck', // ACK of data never sent, or too old (RFC 5961 section 5)
  'tcpPawsRejected', // RFC 7323 PAWS: timestamp older than TS.Recent
  'tcpRstOutOfWindow',
  'tcpRstChallenged', // in-window RST not at RCV.NXT: challenge ACK (RFC 5961 section 3)
  'tcpSynChallenged', // SYN in a synchronized state: challenge ACK (RFC 5961 section 4)
  'tcpChallengeAckLimited', // the challenge ACK budget for this second is spent
  'tcpNoBufferSpace', // out-of-order data the assembler cannot track, or beyond the buffer
  'tcpDataAfterClose', // data after the application closed its receive side (answered with RST)
  'tcpClosedState', // segment for a connection in CLOSED (no listener) without RST response
  'tcpTimeWaitDrop', // segment absorbed by TIME-WAIT
] as const;

export type DropReason = (typeof DROP_REASONS)[number];
export type DropCounters = Record<DropReason, number>;

export function newDropCounters(): DropCounters {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as DropCounters;
}

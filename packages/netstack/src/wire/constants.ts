// Wire constants in one place, named as in the RFCs.

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;

export const IPV4_HEADER_BYTES = 20;
export const IPV6_HEADER_BYTES = 40;
export const IPV6_FRAGMENT_HEADER_BYTES = 8;
export const TCP_HEADER_BYTES = 20;
export const TCP_MAX_HEADER_BYTES = 60;
export const UDP_HEADER_BYTES = 8;
export const ICMP_HEADER_BYTES = 8;
/** Largest IP packet (IPv4 total length / IPv6 header + payload length without jumbograms). */
export const IP_MAX_PACKET_BYTES = 65535;
export const IPV6_MAX_PACKET_BYTES = IPV6_HEADER_BYTES + 65535;
/** RFC 791: every host accepts 576-byte datagrams; RFC 8200: IPv6 links carry 1280. */
export const IPV4_MIN_MTU = 576;
export const IPV6_MIN_MTU = 1280;

export const DEFAULT_TTL = 64;

// IPv4 flags (in the 16-bit flags/fragment-offset word)
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

// TCP flags
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

// TCP options (RFC 9293, RFC 7323, RFC 2018)
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
/** RFC 7323: the largest window scale shift. */
export const TCP_MAX_WSCALE = 14;
/** SACK blocks we parse from one segment (40 option bytes hold at most 4). */
export const TCP_MAX_SACK_BLOCKS = 4;

// ICMPv4 types/codes
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
export const ICMP_UNREACH_NEEDFRAG = 4;
export const ICMP_UNREACH_ADMIN = 13;

// ICMPv6 types/codes
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_UNREACH_NOROUTE = 0;
export const ICMPV6_UNREACH_ADMIN = 1;
export const ICMPV6_UNREACH_ADDR = 3;
export const ICMPV6_UNREACH_PORT = 4;
/** Parameter Problem code: unrecognized Next Header type encountered (RFC 4443 3.4). */
export const ICMPV6_PARAMPROB_NEXTHEADER = 1;

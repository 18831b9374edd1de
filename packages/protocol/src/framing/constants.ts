/**
 * Transport framing limits. One protocol message (handshake, cookie or transport data) is carried:
 *
 * - over UDP: alone in one datagram; its length is the datagram's length. No framing bytes.
 * - over TCP: as one frame, `u16 big-endian length || message`, frames back to back.
 *
 * Both transports share one message size limit, so any message the protocol produces fits either.
 * The limit is the largest UDP payload over IPv4 (65535 - 20 - 8), which also fits a u16 length.
 * Zero-length messages do not exist in the protocol (every message starts with a type byte), so an
 * empty datagram or a zero-length frame is an error, never a keepalive. Nor does any message shorter
 * than a keepalive (header + tag, 32 bytes): shorter frames and datagrams are refused as 'undersize'
 * before they cost anything more, so tiny frames cannot make a peer work per byte it sends.
 */
import { DATA_MIN_BYTES } from '../handshake/wire.js';

/** Smallest protocol message, in bytes (an empty data message: the keepalive). */
export const MIN_WIRE_MESSAGE_BYTES = DATA_MIN_BYTES;

/** Largest protocol message, in bytes, on either transport. */
export const MAX_WIRE_MESSAGE_BYTES = 65_507;
/** Largest UDP datagram payload a peer may send; receivers size their read buffer to it. */
export const MAX_DATAGRAM_BYTES = MAX_WIRE_MESSAGE_BYTES;
/** Largest TCP frame payload (the value of the length prefix). */
export const MAX_FRAME_PAYLOAD_BYTES = MAX_WIRE_MESSAGE_BYTES;
/** Size of the TCP frame length prefix; senders may reserve this much headroom to frame in place. */
export const FRAME_HEADER_BYTES = 2;

/** Why a datagram or a frame was refused. */
export type FramingError = 'empty' | 'undersize' | 'oversize';

/** Version of the control-plane JSON messages shared by controller, node agent and CLI. */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Tunnel protocol constants, named as in the WireGuard paper (section 6) with units in the name.
// ---------------------------------------------------------------------------------------------

/** The Noise suite of the Corridor handshake. */
export const NOISE_PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_BLAKE2b';
/** Mixed into every handshake as the Noise prologue: binds the handshake to this wire version. */
export const HANDSHAKE_PROLOGUE = 'corridor tunnel v2';
/** Tunnel wire version (message header layout, see handshake/wire.ts); named in the prologue. */
export const WIRE_VERSION = 2;

/** The initiator starts a new handshake once its current keypair is this old. */
export const REKEY_AFTER_TIME_MS = 120_000;
/** No keypair is used to send or receive once it is this old. */
export const REJECT_AFTER_TIME_MS = 180_000;
/** A new handshake is started after this many messages were sent with one keypair. */
export const REKEY_AFTER_MESSAGES = 2n ** 60n;
/** No more messages are sent or accepted with a keypair after this many. */
export const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
/** A handshake initiation that got no response is retransmitted after this long. */
export const REKEY_TIMEOUT_MS = 5_000;
/**
 * Each retransmission waits REKEY_TIMEOUT_MS plus a random 0..REKEY_TIMEOUT_JITTER_MAX_MS - 1 ms
 * (wireguard-go's RekeyTimeoutJitterMaxMs), so clients that lost the node together do not come back
 * in lockstep.
 */
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334;
/** Handshake retransmissions give up after this long. */
export const REKEY_ATTEMPT_TIME_MS = 90_000;
/** An empty (keepalive) data message is sent when data was received but nothing sent for this long. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Cookies are valid for this long; the node's cookie secret rotates at this period. */
export const COOKIE_REFRESH_TIME_MS = 120_000;
/**
 * The node accepts an initiation only when its TAI64N timestamp is within this much of the node's
 * own wall clock (either way); the client's clock must be right to within it (Kerberos uses the same
 * 5 minutes). This bounds how far any timestamp the replay guard remembers can lie in the future,
 * which is what lets the guard raise its floor on eviction without capping it.
 */
export const INITIATION_TIMESTAMP_WINDOW_MS = 300_000;
/**
 * Once the node saw more initiations per second than its threshold, it stays under load (demanding
 * cookies) until this long after the load was last seen. One second (WireGuard's value, measured
 * there on a queue) would let a flood pulse back to the threshold every second: with ten, a
 * sustained spoofed flood costs DH work only in its first second, and a pulsing one a tenth of it.
 */
export const UNDER_LOAD_AFTER_TIME_MS = 10_000;
/**
 * Initiations of one client static key reach `authorize` at most this often per second (WireGuard's
 * per-peer 50/s), after the timestamp guards; CLIENT_KEY_INITIATION_BURST of them may come at once.
 */
export const CLIENT_KEY_INITIATIONS_PER_SECOND = 50;
export const CLIENT_KEY_INITIATION_BURST = 5;
/** All state of a session is dropped when no handshake succeeded for this long. */
export const SESSION_DEAD_AFTER_MS = REJECT_AFTER_TIME_MS * 3;

/**
 * The transport path counts messages with JS numbers (exact up to 2^53 - 1) to stay off bigint;
 * REKEY_AFTER_MESSAGES and REJECT_AFTER_MESSAGES are larger than that, so the effective hot-path
 * limits are these (stricter, hence safe). At 10^7 packets/s 2^53 packets take 28 years.
 */
export const REKEY_AFTER_MESSAGES_NUMBER = Math.min(
  Number(REKEY_AFTER_MESSAGES),
  Number.MAX_SAFE_INTEGER - 1,
);
export const REJECT_AFTER_MESSAGES_NUMBER = Math.min(Number(REJECT_AFTER_MESSAGES), Number.MAX_SAFE_INTEGER);

/**
 * Reproduces the cacophony BLAKE2b vectors (NN, XX, IK, IKpsk2) byte for byte: every handshake and
 * transport ciphertext in both directions, and the final handshake hash. The vector file is vendored in
 * `packages/protocol/vectors/` (source and licence in the README beside it); a missing or altered file
 * fails the suite (it is never skipped).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HandshakeState } from './handshake-state.js';
import { PATTERNS, parseProtocolName } from './patterns.js';

const VECTOR_URL = new URL('../../vectors/noise-cacophony-blake2b.json', import.meta.url);
/** SHA-256 of the vector file as vendored (computed when this test was written). */
const VECTOR_FILE_SHA256 = 'd78d1613543a83fd78c7b256e71364ed0601ae909362863e60cc9ea2e646ea5b';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  init_psks?: string[];
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral: string;
  resp_psks?: string[];
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

function loadVectors(): { raw: Buffer; vectors: Vector[] } {
  const path = fileURLToPath(VECTOR_URL);
  if (!existsSync(path))
    throw new Error(
      `Noise vector file missing at ${path} (expected packages/protocol/vectors/, vendored with the repository)`,
    );
  const raw = readFileSync(path);
  return { raw, vectors: (JSON.parse(raw.toString('utf8')) as { vectors: Vector[] }).vectors };
}

const hex = (s: string | undefined): Buffer | undefined =>
  s === undefined ? undefined : Buffer.from(s, 'hex');

const { raw, vectors } = loadVectors();

describe('cacophony BLAKE2b vectors', () => {
  it('vector file is byte-identical to the one these tests were written against', () => {
    expect(createHash('sha256').update(raw).digest('hex')).toBe(VECTOR_FILE_SHA256);
  });

  it('covers NN, XX, IK and IKpsk2', () => {
    expect(vectors.map((v) => v.protocol_name).sort()).toEqual([
      'Noise_IK_25519_ChaChaPoly_BLAKE2b',
      'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b',
      'Noise_NN_25519_ChaChaPoly_BLAKE2b',
      'Noise_XX_25519_ChaChaPoly_BLAKE2b',
    ]);
  });

  for (const v of vectors) {
    it(`reproduces ${v.protocol_name}`, () => {
      const pattern = parseProtocolName(v.protocol_name);
      expect(pattern).not.toBeNull();
      if (pattern === null) return;
      const initiator = new HandshakeState({
        pattern,
        initiator: true,
        prologue: hex(v.init_prologue),
        staticPrivateKey: hex(v.init_static),
        remoteStaticPublicKey: hex(v.init_remote_static),
        ephemeralPrivateKey: hex(v.init_ephemeral),
        psks: v.init_psks?.map((p) => Buffer.from(p, 'hex')),
      });
      const responder = new HandshakeState({
        pattern,
        initiator: false,
        prologue: hex(v.resp_prologue),
        staticPrivateKey: hex(v.resp_static),
        ephemeralPrivateKey: hex(v.resp_ephemeral),
        psks: v.resp_psks?.map((p) => Buffer.from(p, 'hex')),
      });
      const handshakeCount = PATTERNS[pattern].messages.length;
      expect(v.messages.length).toBeGreaterThan(handshakeCount);

      v.messages.slice(0, handshakeCount).forEach((m, i) => {
        const [sender, receiver] = i % 2 === 0 ? [initiator, responder] : [responder, initiator];
        const written = sender.writeMessage(Buffer.from(m.payload, 'hex'));
        expect(written.ok).toBe(true);
        if (!written.ok) return;
        expect(written.value.toString('hex')).toBe(m.ciphertext);
        const read = receiver.readMessage(written.value);
        expect(read.ok && read.value.toString('hex')).toBe(m.payload);
      });
      expect(initiator.handshakeHash().toString('hex')).toBe(v.handshake_hash);
      expect(responder.handshakeHash().toString('hex')).toBe(v.handshake_hash);

      const i = initiator.split();
      const r = responder.split();
      expect(i.ok && r.ok).toBe(true);
      if (!i.ok || !r.ok) return;
      const empty = Buffer.alloc(0);
      let transported = 0;
      v.messages.slice(handshakeCount).forEach((m, k) => {
        // Direction continues to alternate after the handshake messages.
        const fromInitiator = (handshakeCount + k) % 2 === 0;
        const [send, receive] = fromInitiator
          ? [i.value.send, r.value.receive]
          : [r.value.send, i.value.receive];
        const c = send.encryptWithAd(empty, Buffer.from(m.payload, 'hex'));
        expect(c?.toString('hex')).toBe(m.ciphertext);
        expect(receive.decryptWithAd(empty, Buffer.from(m.ciphertext, 'hex'))?.toString('hex')).toBe(
          m.payload,
        );
        transported++;
      });
      expect(transported).toBe(v.messages.length - handshakeCount);
    });
  }
});

/**
 * Handshake patterns (Noise spec section 7) as token lists. Only the patterns this package tests
 * against published vectors are listed; IK is the one Corridor uses.
 */
export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

export interface HandshakePattern {
  readonly name: string;
  /** Pre-message tokens: which static keys are known beforehand. */
  readonly initiatorPreMessage: readonly Token[];
  readonly responderPreMessage: readonly Token[];
  /** Messages in order; even indexes go initiator -> responder. */
  readonly messages: readonly (readonly Token[])[];
}

export const PATTERNS = {
  NN: { name: 'NN', initiatorPreMessage: [], responderPreMessage: [], messages: [['e'], ['e', 'ee']] },
  XX: {
    name: 'XX',
    initiatorPreMessage: [],
    responderPreMessage: [],
    messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
  },
  IK: {
    name: 'IK',
    initiatorPreMessage: [],
    responderPreMessage: ['s'],
    messages: [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se'],
    ],
  },
  IKpsk2: {
    name: 'IKpsk2',
    initiatorPreMessage: [],
    responderPreMessage: ['s'],
    messages: [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se', 'psk'],
    ],
  },
} as const satisfies Record<string, HandshakePattern>;

export type PatternName = keyof typeof PATTERNS;

/** `Noise_<pattern>_25519_ChaChaPoly_BLAKE2b`, the only suite this package implements. */
export function protocolName(pattern: PatternName): string {
  return `Noise_${pattern}_25519_ChaChaPoly_BLAKE2b`;
}

export function parseProtocolName(name: string): PatternName | null {
  const m = /^Noise_([A-Za-z0-9]+)_25519_ChaChaPoly_BLAKE2b$/.exec(name);
  if (m === null) return null;
  const p = m[1];
  return p !== undefined && Object.hasOwn(PATTERNS, p) ? (p as PatternName) : null;
}

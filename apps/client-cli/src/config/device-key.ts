/**
 * The device key pair: an X25519 static key generated on this machine on first use. The private key
 * is written once to device.key (0600, atomically) and only ever read back into a secret buffer for
 * the Noise handshake; the controller only learns the public key (bound into node tickets).
 */
import {
  formatPublicKey,
  generateX25519KeyPair,
  x25519PrivateKeyFromBytes,
  x25519PublicFromPrivate,
  type X25519KeyPair,
} from '@corridor/protocol';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import { readPrivateFile, writePrivateFile } from './files.js';

const HEADER = '# Corridor device private key (X25519). Never share this file.\n';

export async function createDeviceKey(file: string): Promise<X25519KeyPair> {
  const pair = generateX25519KeyPair();
  const text = Buffer.from(`${HEADER}${pair.privateKey.toString('base64url')}\n`, 'utf8');
  try {
    await writePrivateFile(file, text, { forDirOwner: true });
  } finally {
    text.fill(0);
  }
  return pair;
}

export async function loadDeviceKey(file: string): Promise<X25519KeyPair | undefined> {
  const raw = await readPrivateFile(file);
  if (raw === undefined) return undefined;
  try {
    const line = raw
      .toString('utf8')
      .split('\n')
      .find((l) => l.length > 0 && !l.startsWith('#'));
    const bytes = Buffer.from(line ?? '', 'base64url');
    const priv = x25519PrivateKeyFromBytes(bytes);
    bytes.fill(0);
    if (!priv.ok) throw new Error('bad length');
    return { privateKey: priv.value, publicKey: x25519PublicFromPrivate(priv.value) };
  } catch {
    throw new UserError(
      CLI_ERROR_CODES.CONFIG,
      `${file} is damaged (not a device key vpnctl wrote)`,
      `remove it and its record (rm ${file} ${file.replace(/device\.key$/, 'device.json')}); the next 'vpnctl connect' registers a new device`,
    );
  } finally {
    raw.fill(0);
  }
}

export function publicKeyText(pair: X25519KeyPair): string {
  return formatPublicKey('x25519pub', pair.publicKey);
}

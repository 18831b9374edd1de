/** UUID text ↔ 16 bytes, without allocation beyond the result. Any variant/version is accepted. */

const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_TEXT.test(value);
}

/** Writes the 16 bytes of `uuid` (validated by the caller with `isUuid`) at `offset`. */
export function writeUuid(uuid: string, out: Buffer, offset: number): void {
  out.write(uuid.replaceAll('-', ''), offset, 16, 'hex');
}

/**
 * Reads 16 bytes at `offset` (bounds checked by the caller) as lowercase canonical UUID text. The
 * result is one flat string (`join`), not a tree of concatenations: a node keeps three of these per
 * session, and a template literal would keep eight string objects each.
 */
export function readUuid(bytes: Buffer, offset: number): string {
  const hex = bytes.toString('hex', offset, offset + 16);
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
}

/**
 * This machine's device: key pair generated locally on first use (the private key stays in
 * device.key, 0600) and registered with the controller by its public key only.
 */
import os from 'node:os';
import type { X25519KeyPair } from '@corridor/protocol';
import { ERROR_CODES } from '@corridor/protocol/control';
import type { ApiClient } from '../api/client.js';
import { createDeviceKey, loadDeviceKey, publicKeyText } from '../config/device-key.js';
import type { DeviceRecord } from '../config/store.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';

export function defaultDeviceName(): string {
  const host = os
    .hostname()
    .replace(/[^\x20-\x7e]/g, '')
    .trim();
  return (host || 'device').slice(0, 64);
}

export interface LocalDevice {
  readonly record: DeviceRecord;
  readonly keys: X25519KeyPair;
}

/** Returns the registered device of this machine for the logged-in account, registering it if needed. */
export async function ensureDevice(ctx: CliContext, api: ApiClient, forceNew = false): Promise<LocalDevice> {
  const creds = await api.credentials();
  const paths = ctx.store.paths;
  let record = forceNew ? undefined : await ctx.store.readDevice();
  let keys = forceNew ? undefined : await loadDeviceKey(paths.deviceKeyFile);
  const ours = record && record.server === api.server && record.userId === creds.user.id;
  if (record && keys && ours && publicKeyText(keys) === record.publicKey) return { record, keys };

  // A key that belongs to another account or controller (or whose record is lost) is not reused:
  // the controller registers each public key once.
  if (!keys || (record && !ours) || (record && publicKeyText(keys) !== record.publicKey) || !record) {
    keys = await createDeviceKey(paths.deviceKeyFile);
  }
  const name = defaultDeviceName();
  let device;
  try {
    device = await api.registerDevice(name, publicKeyText(keys));
  } catch (e) {
    if (!(e instanceof UserError) || e.code !== ERROR_CODES.DEVICE_KEY_IN_USE) throw e;
    keys = await createDeviceKey(paths.deviceKeyFile);
    device = await api.registerDevice(name, publicKeyText(keys));
  }
  record = {
    version: 1,
    server: api.server,
    userId: creds.user.id,
    id: device.id,
    name: device.name,
    publicKey: device.publicKey,
  };
  await ctx.store.writeDevice(record);
  ctx.say(
    `Registered this machine as device "${device.name}" (${device.id}); its private key stays in ${paths.deviceKeyFile}.`,
  );
  return { record, keys };
}

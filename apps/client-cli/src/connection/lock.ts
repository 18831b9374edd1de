/**
 * One connection at a time per state directory: `connection.pid` in the runtime dir holds the
 * owner's pid, start time (so a recycled pid is not mistaken for it) and a nonce. It is created and
 * broken atomically (config/lock-file.ts), so concurrent `vpnctl connect`s never both win.
 */
import { holderText, pidAlive, tryLock } from '../config/lock-file.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import { processStartTicks } from '../system/journal.js';

async function stale(holder: string): Promise<boolean> {
  const [pidText, ticksText] = holder.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return false;
  const ticks = Number(ticksText);
  if (ticksText !== undefined && Number.isInteger(ticks)) return (await processStartTicks(pid)) !== ticks;
  return !pidAlive(pid);
}

export async function acquireConnectionLock(file: string): Promise<() => Promise<void>> {
  const me = holderText([(await processStartTicks(process.pid)) ?? 0]);
  const r = await tryLock(file, me, stale);
  if (r.ok) return r.release;
  const pid = Number(r.content.trim().split(/\s+/)[0]);
  if (Number.isInteger(pid) && pid > 0) {
    throw new UserError(
      CLI_ERROR_CODES.ALREADY_CONNECTED,
      `a connection is already running (pid ${pid})`,
      'see it with `vpnctl status`; stop it with `vpnctl disconnect` before connecting again',
    );
  }
  throw new UserError(
    CLI_ERROR_CODES.SYSTEM,
    `cannot take ${file}`,
    `remove it if no vpnctl is running (rm ${file})`,
  );
}

/**
 * Where vpnctl keeps its files (XDG Base Directory spec):
 *
 *   config  $XDG_CONFIG_HOME/corridor (default ~/.config/corridor): config.json (server + trust),
 *           credentials.json (tokens), device.json + device.key (the device key pair)
 *   state   $XDG_STATE_HOME/corridor (default ~/.local/state/corridor): journal.json (what a running
 *           connection changed, for restoring after a crash — on persistent storage, because a changed
 *           resolv.conf survives a reboot), vpnctl.log (detached connections)
 *   runtime $XDG_RUNTIME_DIR/corridor (default: the state dir): vpnctl.sock (the 0600 status socket)
 *
 * Directories are created 0700 and files 0600 (see files.ts). `CORRIDOR_CONFIG_DIR`,
 * `CORRIDOR_STATE_DIR` and `CORRIDOR_RUNTIME_DIR` override each one directly.
 */
import os from 'node:os';
import path from 'node:path';

export interface Paths {
  readonly configDir: string;
  readonly stateDir: string;
  readonly runtimeDir: string;
  readonly configFile: string;
  readonly credentialsFile: string;
  readonly credentialsLock: string;
  readonly deviceFile: string;
  readonly deviceKeyFile: string;
  readonly journalFile: string;
  readonly logFile: string;
  readonly socketFile: string;
  /** Held by the running connection (pid inside); keeps two connections from fighting. */
  readonly connectionLock: string;
}

function xdg(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const v = env[name];
  // The spec: relative paths are invalid and must be ignored.
  return v !== undefined && path.isAbsolute(v) ? v : fallback;
}

export function resolvePaths(env: NodeJS.ProcessEnv, home = os.homedir()): Paths {
  const configDir =
    env.CORRIDOR_CONFIG_DIR || path.join(xdg(env, 'XDG_CONFIG_HOME', path.join(home, '.config')), 'corridor');
  const stateDir =
    env.CORRIDOR_STATE_DIR ||
    path.join(xdg(env, 'XDG_STATE_HOME', path.join(home, '.local', 'state')), 'corridor');
  const runtimeDir =
    env.CORRIDOR_RUNTIME_DIR ||
    (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR)
      ? path.join(env.XDG_RUNTIME_DIR, 'corridor')
      : stateDir);
  return {
    configDir,
    stateDir,
    runtimeDir,
    configFile: path.join(configDir, 'config.json'),
    credentialsFile: path.join(configDir, 'credentials.json'),
    credentialsLock: path.join(configDir, 'credentials.lock'),
    deviceFile: path.join(configDir, 'device.json'),
    deviceKeyFile: path.join(configDir, 'device.key'),
    journalFile: path.join(stateDir, 'journal.json'),
    logFile: path.join(stateDir, 'vpnctl.log'),
    socketFile: path.join(runtimeDir, 'vpnctl.sock'),
    connectionLock: path.join(runtimeDir, 'connection.pid'),
  };
}

/** Every vpnctl command, in the order the root help lists them. */
import type { Command } from '../command.js';
import { devicesCommand } from './devices/index.js';
import { loginCommand } from './login/index.js';
import { logoutCommand } from './logout/index.js';
import { nodesCommand } from './nodes/index.js';
import { versionCommand } from './version/index.js';
import { whoamiCommand } from './whoami/index.js';

export const COMMANDS: readonly Command[] = [
  loginCommand,
  logoutCommand,
  whoamiCommand,
  devicesCommand,
  nodesCommand,
  versionCommand,
];

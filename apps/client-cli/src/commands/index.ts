/** Every vpnctl command, in the order the root help lists them. */
import type { Command } from '../command.js';
import { connectCommand } from './connect/index.js';
import { devicesCommand } from './devices/index.js';
import { disconnectCommand } from './disconnect/index.js';
import { loginCommand } from './login/index.js';
import { logoutCommand } from './logout/index.js';
import { nodesCommand } from './nodes/index.js';
import { proxyCommand } from './proxy/index.js';
import { statusCommand } from './status/index.js';
import { versionCommand } from './version/index.js';
import { whoamiCommand } from './whoami/index.js';

export const COMMANDS: readonly Command[] = [
  loginCommand,
  logoutCommand,
  whoamiCommand,
  devicesCommand,
  nodesCommand,
  connectCommand,
  proxyCommand,
  statusCommand,
  disconnectCommand,
  versionCommand,
];

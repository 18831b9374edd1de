import { PROTOCOL_VERSION } from '@corridor/protocol';

export const CLI_VERSION = '0.1.0';
export const versionLine = (): string => `vpnctl ${CLI_VERSION} (protocol ${PROTOCOL_VERSION})`;

/** Reported in heartbeats and `corridor-node --version`. */
export const AGENT_VERSION = '0.1.0';

export { loadConfig, type AgentConfig, type ConfigResult } from './config.js';
export { Engine, NODE_DROP_REASONS, ADMISSION_REJECT_REASONS } from './tunnel/engine.js';

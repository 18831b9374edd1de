export { loadConfig, type AgentConfig, type ConfigResult } from './config.js';

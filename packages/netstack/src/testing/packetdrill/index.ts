export { parseScript, ScriptError, type Script, type ScriptLine } from './script.js';
export { PacketdrillRunner, type RunReport } from './runner.js';

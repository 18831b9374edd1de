export * from './constants.js';
export * from './result.js';
export * from './keys.js';
export * from './ticket/index.js';
export * from './framing/index.js';

export * from './constants.js';
export * from './result.js';
export * from './keys.js';

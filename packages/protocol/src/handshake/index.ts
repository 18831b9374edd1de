export * from './cookie.js';
export * from './ip.js';
export * from './messages.js';
export * from './payload.js';
export * from './rate-limiter.js';
export * from './replay-timestamp-guard.js';
export * from './tai64n.js';
export * from './wire.js';

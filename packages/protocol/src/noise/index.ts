export * from './cipher-state.js';
export * from './handshake-state.js';
export * from './patterns.js';
export * from './symmetric-state.js';

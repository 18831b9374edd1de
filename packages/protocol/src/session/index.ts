export * from './index-table.js';
export * from './keypair.js';
export * from './replay-window.js';
export * from './session.js';
export * from './transport.js';
export * from './view-cache.js';
export * from './buffer-pool.js';
export * from './allowed-source.js';

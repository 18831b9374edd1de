export * from './constants.js';
export * from './datagram.js';
export * from './stream.js';
export * from './padding.js';

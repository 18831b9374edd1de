export * from './format.js';
export * from './ticket.js';
export { isUuid } from './uuid.js';

export { PROTOCOL_VERSION } from '../constants.js';

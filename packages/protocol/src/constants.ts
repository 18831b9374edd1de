/** Version of the control-plane JSON messages shared by controller, node agent and CLI. */
export const PROTOCOL_VERSION = 1;

// The netns lab: a small internet of network namespaces for end-to-end tests and the demo.
// API and example: test/lab/README.md.
export { createLab, Lab, labSkipReason, REQUIRED_TOOLS, SWEEP_GRACE_MS, type LabOptions } from './lab.js';
export {
  LabHost,
  LinkRule,
  type Family,
  type FetchOptions,
  type FetchResult,
  type PingOptions,
  type Reachability,
} from './host.js';
export {
  LabProcess,
  type ExitStatus,
  type OutputLine,
  type SpawnOptions,
  type StopOptions,
} from './process.js';
export { Capture, CaptureResult, type CaptureOptions } from './capture.js';
export { readCapture, parsePcap, decodePacket, type DecodedPacket } from './pcap.js';
export type { LinkMatch } from './link-rules.js';
export {
  DnsService,
  HttpService,
  JsonLineService,
  serverArgv,
  type DnsQueryEvent,
  type DnsRecordSet,
  type HttpRequestEvent,
  type LabService,
  type ServiceEvent,
} from './services.js';
export { BUILTIN_ROLES, type BuiltinRole, type RoleDefinition } from './roles.js';
export { defaultTopology, LAB_ZONE, type HostSpec } from './topology.js';
export { LAB_RANGES, regionPrefixes, urlFor, WELL_KNOWN_REGIONS } from './addresses.js';
export { LabError, LAB_ERROR_CODES, type LabErrorCode } from './errors.js';
export type { Command, ExecOptions, ExecResult } from './exec.js';
export { snapshotRoot, diffSnapshots, type RootSnapshot } from './root-snapshot.js';

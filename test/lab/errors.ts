// Errors of the netns lab: every one has a CORRIDOR_ERR_LAB_* code and a hint naming the fix.

export const LAB_ERROR_CODES = {
  CORRIDOR_ERR_LAB_NOT_ROOT:
    'the lab creates network namespaces: run as root (CI is root), e.g. `sudo bash scripts/test.sh`',
  CORRIDOR_ERR_LAB_TOOL_MISSING:
    'install the lab tools as root with `bash scripts/test.sh` (TEST_PACKAGES in scripts/lib.sh) or apt-get install iproute2 nftables tcpdump curl iputils-ping',
  CORRIDOR_ERR_LAB_BAD_SPEC: 'fix the topology passed to createLab() (see test/lab/README.md, "Topology")',
  CORRIDOR_ERR_LAB_COMMAND_FAILED:
    'read the command output above; `pnpm lab:down` removes what a failed run left behind',
  CORRIDOR_ERR_LAB_TIMEOUT:
    'the machine may be busy: raise timeoutMs, or check the process log printed above',
  CORRIDOR_ERR_LAB_SERVICE_FAILED: 'a lab service did not start: its output is printed above',
  CORRIDOR_ERR_LAB_CLOSED: 'the lab was already torn down: create a new one with createLab()',
  CORRIDOR_ERR_LAB_UNKNOWN_HOST: 'use one of the host names the lab was built with (lab.hosts lists them)',
  CORRIDOR_ERR_LAB_STATE: 'remove the broken state file by hand after checking `ip netns list`',
} as const;

export type LabErrorCode = keyof typeof LAB_ERROR_CODES;

export class LabError extends Error {
  readonly code: LabErrorCode;
  readonly hint: string;

  constructor(code: LabErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    const hint = options?.hint ?? LAB_ERROR_CODES[code];
    super(`${message}\n  hint: ${hint}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LabError';
    this.code = code;
    this.hint = hint;
  }
}

// Packet captures on a lab link: tcpdump inside the host's namespace writing a pcap file into the
// lab's work dir. Contract: LabHost.capture() resolves once tcpdump is listening (packets sent after
// that are in the file); stop() ends tcpdump with SIGINT (it flushes) and returns the result; the
// file stays until the lab is torn down (or for good with keepArtifacts). Link rules act on the
// backbone's end of the link, so a capture on the host shows what it sent even when the link then
// dropped it, and never shows what the link dropped on the way in.
import { readFileSync } from 'node:fs';
import { LabError } from './errors.js';
import { readCapture, type DecodedPacket } from './pcap.js';
import type { LabProcess } from './process.js';

export interface CaptureOptions {
  /** Interface inside the host (default: its link to the backbone). */
  iface?: string;
  /** A pcap filter expression, e.g. "udp port 51820" (default: everything). */
  filter?: string;
  /** Bytes kept per packet (default: whole packets). */
  snaplen?: number;
  /** Name used for the file (default capture-<n>). */
  name?: string;
}

export class CaptureResult {
  readonly file: string;
  /** Packets tcpdump reported as dropped by the kernel (buffer overruns); 0 in a sane run. */
  readonly droppedByKernel: number;
  #packets: DecodedPacket[] | undefined;

  constructor(file: string, droppedByKernel: number) {
    this.file = file;
    this.droppedByKernel = droppedByKernel;
  }

  /** All packets, decoded (read once, then cached). */
  packets(): DecodedPacket[] {
    if (!this.#packets) this.#packets = readCapture(readFileSync(this.file)).packets;
    return this.#packets;
  }

  /** True when any captured frame contains these bytes anywhere (headers included). */
  contains(needle: string | Buffer): boolean {
    const n = typeof needle === 'string' ? Buffer.from(needle) : needle;
    return this.packets().some((p) => p.frame.includes(n));
  }
}

export class Capture {
  readonly file: string;
  readonly iface: string;
  readonly process: LabProcess;
  #result: Promise<CaptureResult> | undefined;

  constructor(file: string, iface: string, proc: LabProcess) {
    this.file = file;
    this.iface = iface;
    this.process = proc;
  }

  /** Stops tcpdump (SIGINT, so it flushes the file) and returns what it captured. Idempotent. */
  stop(): Promise<CaptureResult> {
    this.#result ??= (async () => {
      const status = await this.process.stop({ signal: 'SIGINT', graceMs: 5000 });
      if (status.code !== 0 && status.signal !== 'SIGINT') {
        throw new LabError(
          'CORRIDOR_ERR_LAB_COMMAND_FAILED',
          `tcpdump on ${this.iface} failed (code ${status.code}):\n${this.process.stderr()}`,
        );
      }
      const dropped = /(\d+) packets? dropped by kernel/.exec(this.process.stderr());
      return new CaptureResult(this.file, dropped ? Number(dropped[1]) : 0);
    })();
    return this.#result;
  }
}

export function tcpdumpArgv(iface: string, file: string, options: CaptureOptions): string[] {
  const argv = ['tcpdump', '-i', iface, '-n', '-U', '--immediate-mode', '-Z', 'root', '-w', file];
  if (options.snaplen !== undefined) argv.push('-s', String(options.snaplen));
  if (options.filter) argv.push(options.filter);
  return argv;
}

// Engine-level test applications driving Tcbs through the TcpHandler interface (no Node streams):
// a bulk sender that writes a deterministic byte pattern and a receiver that checks every byte.
import type { Stack } from '../stack.js';
import type { TcpListener } from '../tcp/listener.js';
import {
  EV_CLOSED,
  EV_CONNECTED,
  EV_EOF,
  EV_READABLE,
  EV_WRITABLE,
  type Tcb,
  type TcpHandler,
} from '../tcp/tcb.js';

/** The byte at position i of the deterministic test stream with `seed`. */
export function patternByte(seed: number, i: number): number {
  let x = (Math.imul(i ^ seed, 0x9e3779b1) ^ (i >>> 7)) >>> 0;
  x ^= x >>> 13;
  return x & 0xff;
}

export function fillPattern(seed: number, start: number, out: Uint8Array): void {
  for (let k = 0; k < out.length; k++) out[k] = patternByte(seed, start + k);
}

export class BulkSender implements TcpHandler {
  sent = 0;
  connected = false;
  closed = false;
  error: string | null = null;
  private readonly chunk = new Uint8Array(16384);

  constructor(
    readonly tcb: Tcb,
    readonly total: number,
    readonly seed: number,
    /** Half-close when everything is queued. */
    readonly shutdownWhenDone = true,
  ) {
    tcb.handler = this;
    this.pump();
  }

  onTcpEvents(tcb: Tcb, ev: number): void {
    if (ev & EV_CONNECTED) this.connected = true;
    if (ev & (EV_WRITABLE | EV_CONNECTED)) this.pump();
    if (ev & EV_CLOSED) {
      this.closed = true;
      this.error = tcb.error;
    }
    if (ev & EV_READABLE) tcb.skip(tcb.readableLength);
  }

  pump(): void {
    while (this.sent < this.total) {
      const n = Math.min(this.chunk.length, this.total - this.sent);
      const view = this.chunk.subarray(0, n);
      fillPattern(this.seed, this.sent, view);
      const k = this.tcb.send(view, 0, n);
      this.sent += k;
      if (k < n) return;
    }
    if (this.shutdownWhenDone) this.tcb.shutdown();
  }
}

export class BulkReceiver implements TcpHandler {
  received = 0;
  mismatches = 0;
  eof = false;
  closed = false;
  connected = false;
  error: string | null = null;
  /** Stop reading (to fill the window) while true. */
  paused = false;
  private readonly buf = new Uint8Array(65536);

  constructor(
    readonly tcb: Tcb,
    readonly seed: number,
    /** Close our side when the peer's FIN arrives. */
    readonly closeOnEof = true,
  ) {
    tcb.handler = this;
  }

  onTcpEvents(tcb: Tcb, ev: number): void {
    if (ev & EV_CONNECTED) this.connected = true;
    if (ev & (EV_READABLE | EV_EOF)) this.drain();
    if (ev & EV_CLOSED) {
      this.drain();
      this.closed = true;
      this.error = tcb.error;
    }
  }

  drain(): void {
    if (this.paused) return;
    while (true) {
      const n = this.tcb.recv(this.buf, 0, this.buf.length);
      if (n === 0) break;
      for (let k = 0; k < n; k++) {
        if (this.buf[k] !== patternByte(this.seed, this.received + k)) this.mismatches++;
      }
      this.received += n;
    }
    if (this.tcb.eof && !this.eof) {
      this.eof = true;
      if (this.closeOnEof) this.tcb.close();
    }
  }

  resume(): void {
    this.paused = false;
    this.drain();
  }
}

/** Accepts every connection of `listener` and hands it to `onConn`. */
export function acceptAll(listener: TcpListener, onConn: (tcb: Tcb) => void): void {
  listener.handler = {
    onListenerEvents(l) {
      let t: Tcb | undefined;
      while ((t = l.accept()) !== undefined) onConn(t);
    },
  };
}

export type { Stack };

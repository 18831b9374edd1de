// TCP receive path: a segment arrives for an existing connection (RFC 9293 section 3.10.7.3/4, with
// RFC 5961 for RSTs, SYNs and ACKs, RFC 7323 for PAWS and TS.Recent, RFC 6675/6582/6937 for loss
// recovery). Called by the Stack after parsing and checksum verification; never throws and never
// transmits directly except through the Tcb's host (challenge ACKs and RSTs are queued as flags and
// sent by tcp-output at the next poll).
//
//  1. SYN-SENT is handled by synSentInput (RFC 9293 3.10.7.3).
//  2. PAWS: an old timestamp drops the segment (with an ACK).
//  3. Sequence check: unacceptable segments draw an ACK (RST: dropped).
//  4. RST: exactly at RCV.NXT resets, elsewhere in the window draws a challenge ACK.
//  5. SYN in a synchronized state draws a challenge ACK (a retransmitted SYN in SYN-RECEIVED
//     re-sends our SYN-ACK).
//  6. ACK: SYN-RECEIVED -> ESTABLISHED; acceptability (RFC 5961 5.2); SND.UNA advance, RTT sample,
//     SACK scoreboard, duplicate ACKs, recovery/PRR, congestion control, window update, FIN acked.
//  7. Data into the receive ring (in order, or out of order through the assembler); ACK policy.
//  8. FIN (in order, or remembered until the gap before it fills).
import { TCP_ACK, TCP_FIN, TCP_MAX_WSCALE, TCP_RST, TCP_SYN } from '../wire/constants.js';
import type { TcpSegment } from '../wire/tcp.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import { EV_CONNECTED, EV_EOF, EV_READABLE, EV_WRITABLE, Recovery, TcpState, type Tcb } from './tcb.js';

/** RFC 6675 DupThresh. */
export const DUP_THRESH = 3;
/** PAWS: TS.Recent older than this is invalid (RFC 7323 5.5: 24 days). */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;
/** One challenge ACK per connection per this interval (Linux: net.ipv4.tcp_invalid_ratelimit). */
export const CHALLENGE_ACK_SPACING_MS = 500;
/** ACK at once for this many segments after the handshake (Linux quick-ACK mode). */
const QUICKACK_SEGMENTS = 16;

/** Default MSS when the peer sends none (RFC 9293 3.7.1 / RFC 8200). */
export function defaultPeerMss(family: 4 | 6): number {
  return family === 4 ? 536 : 1220;
}

/**
 * Applies the options of the peer's SYN (or SYN-ACK). `offered*` say what our own SYN offered
 * (passive opens pass what they will echo). Sets MSS, window scaling, timestamps and SACK.
 */
export function negotiateOptions(
  tcb: Tcb,
  seg: TcpSegment,
  ourMss: number,
  offeredWscale: boolean,
  offeredTs: boolean,
  offeredSack: boolean,
  now: number,
): void {
  const cfg = tcb.host.tcp;
  if (offeredWscale && cfg.windowScaling && seg.wscale >= 0) {
    tcb.wsEnabled = true;
    tcb.sndWscale = Math.min(seg.wscale, TCP_MAX_WSCALE);
  } else {
    tcb.wsEnabled = false;
    tcb.sndWscale = 0;
    tcb.rcvWscale = 0;
  }
  tcb.tsEnabled = offeredTs && cfg.timestamps && seg.hasTimestamp;
  if (tcb.tsEnabled) {
    tcb.tsRecent = seg.tsVal;
    tcb.tsRecentAt = now;
  }
  tcb.sackEnabled = offeredSack && cfg.sack && seg.sackPermitted;
  const peerMss = seg.mss > 0 ? seg.mss : defaultPeerMss(tcb.family);
  let mss = Math.min(peerMss, ourMss);
  if (tcb.tsEnabled) mss -= 12;
  if (mss < 64) mss = 64;
  tcb.rcvMss = ourMss;
  tcb.setSendMss(mss);
  tcb.resetCongestion();
}

/** Handles a segment for a connection in SYN-SENT (active open). */
function synSentInput(tcb: Tcb, seg: TcpSegment, pkt: Uint8Array, now: number): void {
  const host = tcb.host;
  const flags = seg.flags;
  const hasAck = (flags & TCP_ACK) !== 0;
  if (hasAck && (seqLe(seg.ack, tcb.iss) || seqGt(seg.ack, tcb.sndNxt))) {
    host.drops.tcpBadAck++;
    if ((flags & TCP_RST) === 0) {
      // RFC 9293: <SEQ=SEG.ACK><CTL=RST>; the stack sends it for us.
      rstReply(tcb, seg.ack, 0, false, now);
    }
    return;
  }
  if ((flags & TCP_RST) !== 0) {
    if (hasAck) {
      host.tcpCounters.resetsReceived++;
      tcb.terminate('ECONNREFUSED');
    } else {
      host.drops.tcpRstOutOfWindow++;
    }
    return;
  }
  if ((flags & TCP_SYN) === 0) {
    host.drops.tcpBadFlags++;
    return;
  }
  tcb.irs = seg.seq;
  tcb.rcvNxt = seqAdd(seg.seq, 1);
  // Our SYN advertised an unscaled window of at most 64 KiB.
  tcb.rcvAdv = seqAdd(tcb.rcvNxt, Math.min(tcb.rcvBuf.capacity, 0xffff));
  tcb.lastAckSent = tcb.rcvNxt;
  tcb.lastRecvAt = now;
  negotiateOptions(tcb, seg, tcb.rcvMss, true, true, true, now);
  if (hasAck) {
    tcb.sndUna = seg.ack;
    tcb.sndBufSeq = seg.ack;
    tcb.scoreboard.clear();
    tcb.rtoAt = Infinity;
    // RTT of the handshake (Karn: only when the SYN was not retransmitted).
    if (tcb.retransmitCount === 0) tcb.rtt.sample(now - tcb.timedAt);
    tcb.retransmitCount = 0;
    tcb.timing = false;
    tcb.sndWnd = seg.window; // RFC 7323 2.2: a SYN-ACK's window is never scaled
    tcb.maxSndWnd = tcb.sndWnd;
    tcb.sndWl1 = seg.seq;
    tcb.sndWl2 = seg.ack;
    tcb.state = tcb.finQueued ? TcpState.FIN_WAIT_1 : TcpState.ESTABLISHED;
    tcb.ackNow = true;
    tcb.unackedSegments = 0;
    if (tcb.keepAliveEnabled) tcb.setKeepAliveTimer(now + tcb.keepAliveIdleMs);
    tcb.signal(EV_CONNECTED);
    // Data or FIN on the SYN-ACK (rare) is processed as in ESTABLISHED.
    if (seg.payloadLength > 0 || (flags & TCP_FIN) !== 0) {
      // The SYN occupied seg.seq; the rest starts at RCV.NXT.
      synchronizedInput(tcb, seg, pkt, now, true);
    }
    return;
  }
  // Simultaneous open: SYN without ACK -> SYN-RECEIVED, send SYN-ACK.
  tcb.sndWnd = seg.window; // unscaled in a SYN
  tcb.maxSndWnd = tcb.sndWnd;
  tcb.state = TcpState.SYN_RECEIVED;
  tcb.needSyn = true;
  tcb.host.markDirty(tcb);
}

/** Queues an ACK now (acceptability failures, challenge ACKs, out-of-order data). */
function sendAck(tcb: Tcb): void {
  tcb.ackNow = true;
  tcb.host.markDirty(tcb);
}

/**
 * RFC 5961 challenge ACK: at most one per connection every CHALLENGE_ACK_SPACING_MS (Linux's
 * tcp_invalid_ratelimit), then within the stack-wide budget. The per-connection limit comes first so
 * that one connection's challenges cannot be used to read the shared budget: with the budget alone, an
 * attacker counting the challenge ACKs on its own connection learned whether a spoofed RST or SYN had
 * hit another connection's window (CVE-2016-5696).
 */
function challengeAck(tcb: Tcb, now: number): void {
  if (now - tcb.lastChallengeAckAt < CHALLENGE_ACK_SPACING_MS) {
    tcb.host.drops.tcpChallengeAckLimited++;
    return;
  }
  tcb.lastChallengeAckAt = now;
  if (tcb.host.takeChallengeAck(now)) {
    tcb.host.tcpCounters.challengeAcks++;
    sendAck(tcb);
  } else {
    tcb.host.drops.tcpChallengeAckLimited++;
  }
}

/** A RST in reply to a segment (SEQ = seq; with ACK = ack when withAck). */
function rstReply(tcb: Tcb, seq: number, ack: number, withAck: boolean, now: number): void {
  const saveNxt = tcb.rcvNxt;
  if (withAck) tcb.rcvNxt = ack;
  tcb.host.emitSegment(tcb, seq, withAck ? TCP_RST | TCP_ACK : TCP_RST, 0, now);
  tcb.rcvNxt = saveNxt;
  tcb.host.tcpCounters.resetsSent++;
}

/** Entry point: one parsed segment (payload in `pkt` at seg.payloadOffset) for `tcb`. */
export function tcpInput(tcb: Tcb, seg: TcpSegment, pkt: Uint8Array, now: number): void {
  tcb.host.tcpCounters.segmentsIn++;
  if (tcb.state === TcpState.SYN_SENT) {
    synSentInput(tcb, seg, pkt, now);
    return;
  }
  if (tcb.state === TcpState.CLOSED) {
    tcb.host.drops.tcpClosedState++;
    return;
  }
  synchronizedInput(tcb, seg, pkt, now, false);
}

/**
 * RFC 9293 3.10.7.4 for SYN-RECEIVED and the synchronized states. `afterSyn` is set when called for
 * data carried on a SYN-ACK (the SYN itself was already consumed).
 */
function synchronizedInput(tcb: Tcb, seg: TcpSegment, pkt: Uint8Array, now: number, afterSyn: boolean): void {
  const host = tcb.host;
  const drops = host.drops;
  const flags = seg.flags;
  let seq = seg.seq;
  let dataOff = seg.payloadOffset;
  let dataLen = seg.payloadLength;
  let syn = (flags & TCP_SYN) !== 0;
  let fin = (flags & TCP_FIN) !== 0;
  const rst = (flags & TCP_RST) !== 0;
  if (afterSyn) {
    seq = seqAdd(seq, 1);
    syn = false;
  }
  const state = tcb.state;

  // A retransmitted SYN for a half-open connection: answer with our SYN-ACK again.
  if (state === TcpState.SYN_RECEIVED && syn && !rst && (flags & TCP_ACK) === 0 && seq === tcb.irs) {
    if (!tcb.held) {
      tcb.needSyn = true;
      host.markDirty(tcb);
    }
    return;
  }
  // Simultaneous open (RFC 9293 figure 7, line 5; the RFC 5961 4.2 exception Linux makes): the peer's
  // SYN-ACK in SYN-RECEIVED acknowledges our SYN; its SYN we already have.
  if (
    state === TcpState.SYN_RECEIVED &&
    syn &&
    !rst &&
    (flags & TCP_ACK) !== 0 &&
    seq === tcb.irs &&
    seg.ack === tcb.sndNxt &&
    tcb.listener === null
  ) {
    syn = false;
    seq = seqAdd(seq, 1);
  }
  // TIME-WAIT: a retransmitted FIN is ACKed again and restarts the 2MSL timer (RFC 9293).
  if (state === TcpState.TIME_WAIT) {
    if (rst) {
      // RFC 1337: ignore RSTs in TIME-WAIT (TIME-WAIT assassination).
      drops.tcpTimeWaitDrop++;
      return;
    }
    if (fin && seqAdd(seq, dataLen + 1) === tcb.rcvNxt) {
      tcb.setLinger(now + host.tcp.timeWaitMs);
    }
    drops.tcpTimeWaitDrop++;
    sendAck(tcb);
    return;
  }

  // 2. PAWS (RFC 7323 5.3).
  if (tcb.tsEnabled && seg.hasTimestamp && !rst) {
    if (seqLt(seg.tsVal, tcb.tsRecent) && now - tcb.tsRecentAt < PAWS_IDLE_MS) {
      drops.tcpPawsRejected++;
      sendAck(tcb);
      return;
    }
  }

  // 3. Sequence acceptability against the window we advertised.
  let wnd = seqDiff(tcb.rcvAdv, tcb.rcvNxt);
  if (wnd < 0) wnd = 0;
  const segLen = dataLen + (syn ? 1 : 0) + (fin ? 1 : 0);
  const rcvNxt = tcb.rcvNxt;
  let acceptable: boolean;
  if (segLen === 0) {
    acceptable = wnd === 0 ? seq === rcvNxt : seqGe(seq, rcvNxt) && seqLt(seq, seqAdd(rcvNxt, wnd));
  } else if (wnd === 0) {
    // Zero window: keep the ACK (and a FIN exactly at RCV.NXT), drop the data (RFC 9293 3.10.7.4).
    acceptable = seq === rcvNxt;
    if (acceptable && dataLen > 0) {
      drops.tcpOutOfWindow++; // the data: nothing of it fits
      dataLen = 0;
      fin = false;
      sendAck(tcb);
    }
  } else {
    const end = seqAdd(rcvNxt, wnd);
    acceptable =
      (seqGe(seq, rcvNxt) && seqLt(seq, end)) ||
      (seqGe(seqAdd(seq, segLen - 1), rcvNxt) && seqLt(seqAdd(seq, segLen - 1), end));
  }
  if (!acceptable) {
    if (rst) {
      drops.tcpRstOutOfWindow++;
    } else {
      drops.tcpOutOfWindow++;
      sendAck(tcb);
    }
    return;
  }

  // 4. RST (RFC 5961 section 3).
  if (rst) {
    if (seq === rcvNxt) {
      host.tcpCounters.resetsReceived++;
      if (state === TcpState.SYN_RECEIVED && tcb.listener !== null) {
        // Passive open: back to LISTEN, i.e. forget the half-open connection.
        tcb.terminate(null);
      } else {
        tcb.terminate(state === TcpState.SYN_RECEIVED ? 'ECONNREFUSED' : 'ECONNRESET');
      }
    } else {
      drops.tcpRstChallenged++;
      challengeAck(tcb, now);
    }
    return;
  }

  // 5. SYN in a synchronized state (RFC 5961 section 4).
  if (syn) {
    drops.tcpSynChallenged++;
    challengeAck(tcb, now);
    return;
  }

  // Trim to the window: bytes before RCV.NXT, then bytes past the right edge.
  if (seqLt(seq, rcvNxt)) {
    const cut = seqDiff(rcvNxt, seq);
    if (cut >= dataLen) {
      // All data old; a FIN exactly at RCV.NXT survives.
      if (fin && seqAdd(seq, dataLen) !== rcvNxt) fin = false;
      dataOff += dataLen;
      dataLen = 0;
    } else {
      dataOff += cut;
      dataLen -= cut;
    }
    seq = rcvNxt;
  }
  if (dataLen > 0) {
    const room = seqDiff(seqAdd(rcvNxt, wnd), seq);
    if (dataLen > room) {
      dataLen = room > 0 ? room : 0;
      fin = false;
    }
  }

  // 6. ACK.
  if ((flags & TCP_ACK) === 0) {
    drops.tcpBadFlags++;
    return;
  }
  tcb.lastRecvAt = now;
  tcb.persistUnanswered = 0;
  if (tcb.keepAliveEnabled) {
    tcb.keepAliveProbes = 0;
    tcb.keepAliveAt = now + tcb.keepAliveIdleMs; // later: the heap re-keys lazily
  }
  const ack = seg.ack;
  if (state === TcpState.SYN_RECEIVED) {
    if (seqLt(tcb.sndUna, ack) && seqLe(ack, tcb.sndNxt)) {
      tcb.sndUna = ack;
      tcb.sndBufSeq = ack;
      tcb.rtoAt = Infinity;
      if (tcb.retransmitCount === 0 && !tcb.fromCookie) tcb.rtt.sample(now - tcb.timedAt);
      tcb.retransmitCount = 0;
      tcb.sndWnd = seg.window << tcb.sndWscale;
      tcb.maxSndWnd = tcb.sndWnd;
      tcb.sndWl1 = seq;
      tcb.sndWl2 = ack;
      tcb.state = TcpState.ESTABLISHED;
      tcb.unackedSegments = 0;
      tcb.lingerAt = Infinity;
      if (tcb.keepAliveEnabled) tcb.setKeepAliveTimer(now + tcb.keepAliveIdleMs);
      if (tcb.finQueued) tcb.state = TcpState.FIN_WAIT_1;
      tcb.signal(EV_CONNECTED);
      if (tcb.listener !== null) host.tcbEstablished(tcb);
      host.markDirty(tcb);
    } else {
      drops.tcpBadAck++;
      rstReply(tcb, ack, 0, false, now);
      return;
    }
  } else {
    // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
    if (seqGt(ack, tcb.sndNxt)) {
      drops.tcpBadAck++;
      sendAck(tcb);
      return;
    }
    if (seqLt(ack, seqAdd(tcb.sndUna, -Math.max(tcb.maxSndWnd, 1)))) {
      drops.tcpBadAck++;
      challengeAck(tcb, now);
      return;
    }
    if (!processAck(tcb, seg, seq, dataLen + (fin ? 1 : 0), now)) return; // connection ended
  }

  // RFC 7323 4.3: TS.Recent from segments covering Last.ACK.sent.
  if (tcb.tsEnabled && seg.hasTimestamp && seqLe(seq, tcb.lastAckSent) && seqGe(seg.tsVal, tcb.tsRecent)) {
    tcb.tsRecent = seg.tsVal;
    tcb.tsRecentAt = now;
  }

  // 7. Data.
  const st = tcb.state;
  if (dataLen > 0) {
    if (st === TcpState.ESTABLISHED || st === TcpState.FIN_WAIT_1 || st === TcpState.FIN_WAIT_2) {
      if (tcb.rcvClosed) {
        // The application closed and will never read: RFC 2525 2.17 / Linux answer with RST.
        drops.tcpDataAfterClose++;
        tcb.abort();
        return;
      }
      receiveData(tcb, seq, pkt, dataOff, dataLen, now);
    } else {
      // CLOSE-WAIT, CLOSING, LAST-ACK: the peer already sent its FIN; data is bogus.
      drops.tcpOutOfWindow++;
    }
  }

  // 8. FIN.
  if (fin) {
    const finSeq = seqAdd(seq, dataLen);
    if (finSeq === tcb.rcvNxt) processFin(tcb, now);
    else {
      // Out of order: remember it and answer with a duplicate ACK, as for out-of-order data.
      if (tcb.pendingFin < 0) tcb.pendingFin = finSeq;
      sendAck(tcb);
    }
  }
}

/** Stores in-window data at `seq` (already trimmed to the window). */
function receiveData(tcb: Tcb, seq: number, pkt: Uint8Array, off: number, len: number, now: number): void {
  const asm = tcb.assembler;
  const buf = tcb.rcvBuf;
  const offset = seqDiff(seq, tcb.rcvNxt);
  // The window never promises more than the ring holds; this guard keeps it so even if rounding of a
  // scaled window advertised a few bytes more.
  if (offset + len > buf.free) {
    len = buf.free - offset;
    if (len <= 0) {
      tcb.host.drops.tcpNoBufferSpace++;
      sendAck(tcb);
      return;
    }
  }
  tcb.bytesReceived += len;
  tcb.host.tcpCounters.bytesIn += len;
  if (offset === 0 && asm.isEmpty) {
    len = buf.write(pkt, off, len);
    if (len === 0) {
      // The stack's buffer memory budget is spent: drop, the peer retransmits.
      tcb.host.drops.tcpNoBufferSpace++;
      return;
    }
    tcb.rcvNxt = seqAdd(tcb.rcvNxt, len);
    tcb.signal(EV_READABLE);
    // Delayed ACK (RFC 9293 3.8.6.3): every second segment, else within delayedAckMs; ACK at once
    // while the connection is young (Linux quick-ACK) so the peer's slow start is not held back.
    tcb.unackedSegments++;
    const young = seqDiff(tcb.rcvNxt, tcb.irs) < QUICKACK_SEGMENTS * tcb.rcvMss;
    if (young || tcb.unackedSegments >= 2) tcb.ackNow = true;
    else if (tcb.delAckAt === Infinity) tcb.setDelAck(now + tcb.host.tcp.delayedAckMs);
    tcb.host.markDirty(tcb);
    if (tcb.pendingFin >= 0 && tcb.pendingFin === tcb.rcvNxt) processFin(tcb, now);
    return;
  }
  // Out of order, or filling a hole: mark the range, store the bytes at their offset.
  if (!buf.writeAt(offset, pkt, off, len)) {
    tcb.host.drops.tcpNoBufferSpace++;
    sendAck(tcb);
    return;
  }
  if (!asm.add(offset, len)) {
    // Stored bytes past the end that the assembler does not track are simply never committed.
    tcb.host.drops.tcpNoBufferSpace++;
    buf.beyondEnd = !asm.isEmpty;
    sendAck(tcb);
    return;
  }
  const contiguous = asm.removeFront();
  if (contiguous > 0) {
    buf.commit(contiguous);
    tcb.rcvNxt = seqAdd(tcb.rcvNxt, contiguous);
    tcb.signal(EV_READABLE);
  }
  buf.beyondEnd = !asm.isEmpty;
  // RFC 5681 4.2 / RFC 2018 4: every out-of-order segment and every hole fill is ACKed at once, each
  // ACK carrying the SACK block of that segment first. Not deferred to poll(): coalescing these would
  // hide SACK ranges from the sender (only 3-4 blocks fit in one ACK) and trigger needless resends.
  tcb.host.emitSegment(tcb, tcb.sndNxt, TCP_ACK, 0, now);
  if (tcb.pendingFin >= 0 && tcb.pendingFin === tcb.rcvNxt) processFin(tcb, now);
}

/** The peer's FIN is next in sequence. */
function processFin(tcb: Tcb, now: number): void {
  if (tcb.finReceived) return;
  tcb.finReceived = true;
  tcb.pendingFin = -1;
  tcb.rcvNxt = seqAdd(tcb.rcvNxt, 1);
  tcb.ackNow = true;
  tcb.signal(EV_EOF | EV_READABLE);
  switch (tcb.state) {
    case TcpState.SYN_RECEIVED:
    case TcpState.ESTABLISHED:
      tcb.state = TcpState.CLOSE_WAIT;
      break;
    case TcpState.FIN_WAIT_1:
      // Our FIN not yet acknowledged (else processAck moved us to FIN-WAIT-2): simultaneous close.
      tcb.state = TcpState.CLOSING;
      break;
    case TcpState.FIN_WAIT_2:
      tcb.lingerAt = Infinity;
      tcb.enterTimeWait(now);
      break;
    default:
      break;
  }
  tcb.host.markDirty(tcb);
}

/**
 * RFC 9293 ACK processing for ESTABLISHED and later, with RFC 6675 SACK recovery, RFC 6582 NewReno
 * recovery without SACK, and RFC 6937 PRR. Returns false when the connection ended (LAST-ACK done).
 */
function processAck(tcb: Tcb, seg: TcpSegment, seq: number, segLen: number, now: number): boolean {
  const ack = seg.ack;
  const una = tcb.sndUna;
  const sb = tcb.scoreboard;
  const prevSacked = sb.sackedBytes;
  const flightBefore = seqDiff(tcb.sndNxt, una);
  const newWnd = seg.window << tcb.sndWscale;
  const windowChanged = newWnd !== tcb.sndWnd;

  // SACK blocks (RFC 2018), only those within (SND.UNA, SND.NXT].
  if (tcb.sackEnabled && seg.sackCount > 0) {
    for (let i = 0; i < seg.sackCount; i++) {
      const l = seg.sack[2 * i] as number;
      const r = seg.sack[2 * i + 1] as number;
      if (seqLt(l, r) && seqGt(r, ack) && seqLe(r, tcb.sndNxt) && seqGe(l, una)) {
        sb.add(seqLt(l, ack) ? ack : l, r);
      }
    }
  }

  let acked = 0;
  if (seqGt(ack, una)) {
    acked = seqDiff(ack, una);
    // Data bytes acknowledged (the FIN, when acknowledged, is one more).
    const bufEnd = tcb.sndBufEnd;
    const dataAckEnd = seqLt(ack, bufEnd) ? ack : bufEnd;
    const dataAcked = seqDiff(dataAckEnd, tcb.sndBufSeq);
    if (dataAcked > 0) {
      tcb.sndBuf.consume(dataAcked);
      tcb.sndBufSeq = dataAckEnd;
      tcb.signal(EV_WRITABLE);
    }
    tcb.sndUna = ack;
    sb.advance(ack);
    // RTT: timestamps (RFC 7323 4.1) or the timed segment (Karn).
    if (tcb.tsEnabled && seg.hasTimestamp && seg.tsEcr !== 0) {
      const r = (tcb.tsVal(now) - seg.tsEcr) >>> 0;
      if (r < 0x7fffffff) tcb.rtt.sample(r);
    } else if (tcb.timing && seqGe(ack, tcb.timedSeq)) {
      tcb.timing = false;
      tcb.rtt.sample(now - tcb.timedAt);
    }
    tcb.retransmitCount = 0;
    tcb.persistBackoff = 0;
    tcb.tlpOutstanding = false;
    // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, else restart it.
    if (tcb.sndUna === tcb.sndNxt) tcb.rtoAt = Infinity;
    else tcb.rtoAt = now + tcb.rtt.rto; // later than before: the heap re-keys lazily
    if (!tcb.sackEnabled) tcb.renoSacked = Math.max(0, tcb.renoSacked - Math.ceil(acked / tcb.sndMss));
  }

  // Window update (RFC 9293: SND.WL1/WL2 rule).
  if (seqLe(una, ack) && (seqLt(tcb.sndWl1, seq) || (tcb.sndWl1 === seq && seqLe(tcb.sndWl2, ack)))) {
    if (newWnd > tcb.sndWnd) tcb.host.markDirty(tcb); // output may resume
    tcb.sndWnd = newWnd;
    if (newWnd > tcb.maxSndWnd) tcb.maxSndWnd = newWnd;
    tcb.sndWl1 = seq;
    tcb.sndWl2 = ack;
    if (newWnd > 0) tcb.persistAt = Infinity;
  }

  // Duplicate ACK (RFC 5681 section 2 definition).
  const dupAck = acked === 0 && ack === una && segLen === 0 && !windowChanged && flightBefore > 0;
  if (dupAck) {
    tcb.dupAcks++;
    if (!tcb.sackEnabled && tcb.renoSacked * tcb.sndMss < flightBefore - tcb.sndMss) tcb.renoSacked++;
  } else if (acked > 0) {
    tcb.dupAcks = 0;
  }
  const sackedDelta = sb.sackedBytes - prevSacked;
  let delivered = acked + sackedDelta;
  if (!tcb.sackEnabled && dupAck) delivered = tcb.sndMss;
  if (delivered < 0) delivered = 0;

  const cc = tcb.cc;
  const mss = tcb.sndMss;
  switch (tcb.recovery) {
    case Recovery.OPEN: {
      if (acked > 0 && flightBefore * 2 >= cc.cwnd) cc.onAck(acked, now, tcb.rtt.srtt);
      const outstanding = seqDiff(tcb.sndNxt, tcb.sndUna);
      if (outstanding > 0) {
        const sackLoss = tcb.sackEnabled && seqGt(sb.lossBoundary(tcb.sndUna, mss, DUP_THRESH), tcb.sndUna);
        // The tail loss probe was SACKed while data sent before it is still missing: that data was
        // lost (what RACK concludes from the probe, RFC 8985 7.4), recover it now instead of at RTO.
        const tlpLoss =
          tcb.tlpOutstanding &&
          tcb.sackEnabled &&
          sb.isSacked(seqAdd(tcb.tlpEnd, -1)) &&
          seqLt(sb.nextUnsacked(tcb.sndUna), tcb.tlpEnd);
        if (tcb.dupAcks >= DUP_THRESH || sackLoss || tlpLoss) {
          enterRecovery(tcb, now, delivered);
          if (tlpLoss && seqLt(tcb.lossEnd, tcb.tlpEnd)) tcb.lossEnd = tcb.tlpEnd;
        }
      }
      break;
    }
    case Recovery.RECOVERY: {
      if (seqGe(tcb.sndUna, tcb.recoverSeq)) {
        exitRecovery(tcb, now);
        break;
      }
      if (acked > 0 && !tcb.sackEnabled) {
        // RFC 6582 partial ACK: the next unacknowledged segment is lost too.
        tcb.highRxt = tcb.sndUna;
        tcb.lossEnd = seqAdd(tcb.sndUna, Math.min(mss, seqDiff(tcb.sndNxt, tcb.sndUna)));
      } else if (tcb.sackEnabled) {
        const b = sb.lossBoundary(tcb.sndUna, mss, DUP_THRESH);
        if (seqGt(b, tcb.lossEnd)) tcb.lossEnd = b;
        if (seqLt(tcb.lossEnd, tcb.sndUna)) tcb.lossEnd = tcb.sndUna;
        // Lost retransmissions: data sent after our latest retransmission is SACKed (by more than the
        // reordering allowance), so holes below HighRxt that are still missing were lost again.
        if (
          !sb.isEmpty &&
          seqGt(tcb.highRxt, tcb.sndUna) &&
          seqGt(sb.highestSacked, seqAdd(tcb.rtxLastNxt, DUP_THRESH * mss)) &&
          seqLt(sb.nextUnsacked(tcb.sndUna), tcb.highRxt)
        ) {
          tcb.highRxt = tcb.sndUna;
          tcb.rtxLastNxt = tcb.sndNxt;
          tcb.host.tcpCounters.lostRetransmits++;
        }
      }
      prrUpdate(tcb, delivered);
      break;
    }
    default: {
      // LOSS (after an RTO). Eifel (RFC 3522): if the first ACK of new data echoes a timestamp older
      // than the retransmission, the original transmission arrived — the timeout was spurious: undo
      // the reduction and stop retransmitting (RFC 4015), instead of resending a whole window.
      if (acked > 0 && tcb.eifelTs !== 0) {
        const spurious = seg.hasTimestamp && seg.tsEcr !== 0 && seqLt(seg.tsEcr, tcb.eifelTs);
        tcb.eifelTs = 0;
        if (spurious) {
          tcb.host.tcpCounters.spuriousRtos++;
          cc.cwnd = Math.max(tcb.undoCwnd, cc.cwnd);
          cc.ssthresh = Math.max(tcb.undoSsthresh, cc.ssthresh);
          tcb.recovery = Recovery.OPEN;
          tcb.lossEnd = tcb.sndUna;
          tcb.highRxt = tcb.sndUna;
          tcb.dupAcks = 0;
          tcb.renoSacked = 0;
          break;
        }
      }
      // Slow start until everything sent before the timeout is acknowledged.
      if (acked > 0) cc.onAck(acked, now, tcb.rtt.srtt);
      if (seqGe(tcb.sndUna, tcb.recoverSeq)) {
        tcb.recovery = Recovery.OPEN;
        tcb.dupAcks = 0;
        tcb.renoSacked = 0;
        tcb.lossEnd = tcb.sndUna;
        tcb.highRxt = tcb.sndUna;
      }
      break;
    }
  }
  if (seqLt(tcb.highRxt, tcb.sndUna)) tcb.highRxt = tcb.sndUna;
  if (seqLt(tcb.lossEnd, tcb.sndUna)) tcb.lossEnd = tcb.sndUna;
  if (acked > 0 || delivered > 0 || tcb.recovery !== Recovery.OPEN) tcb.host.markDirty(tcb);

  // Our FIN acknowledged?
  if (tcb.finSent && seqGt(tcb.sndUna, tcb.finSeq)) {
    switch (tcb.state) {
      case TcpState.FIN_WAIT_1:
        tcb.state = TcpState.FIN_WAIT_2;
        if (tcb.rcvClosed) tcb.setLinger(now + tcb.host.tcp.finWait2TimeoutMs);
        break;
      case TcpState.CLOSING:
        tcb.enterTimeWait(now);
        break;
      case TcpState.LAST_ACK:
        tcb.terminate(null);
        return false;
      default:
        break;
    }
  }
  return true;
}

function enterRecovery(tcb: Tcb, now: number, delivered: number): void {
  const mss = tcb.sndMss;
  const flight = seqDiff(tcb.sndNxt, tcb.sndUna);
  tcb.recovery = Recovery.RECOVERY;
  tcb.recoverSeq = tcb.sndNxt;
  tcb.highRxt = tcb.sndUna;
  tcb.cc.onCongestion(now, flight);
  tcb.recoverFs = flight;
  tcb.rtxLastNxt = tcb.sndNxt;
  tcb.ptoAt = Infinity;
  tcb.prrDelivered = 0;
  tcb.prrOut = 0;
  // The head is retransmitted at once (fast retransmit); with SACK everything IsLost() too.
  let lossEnd = seqAdd(tcb.sndUna, Math.min(mss, flight));
  if (tcb.sackEnabled) {
    const b = tcb.scoreboard.lossBoundary(tcb.sndUna, mss, DUP_THRESH);
    if (seqGt(b, lossEnd)) lossEnd = b;
  }
  tcb.lossEnd = lossEnd;
  tcb.timing = false;
  tcb.host.tcpCounters.fastRetransmits++;
  prrUpdate(tcb, delivered);
}

function exitRecovery(tcb: Tcb, now: number): void {
  tcb.recovery = Recovery.OPEN;
  tcb.cc.onRecoveryEnd(now);
  // RFC 6582 3.2 step 3: do not burst after a full ACK.
  const cap = seqDiff(tcb.sndNxt, tcb.sndUna) + tcb.sndMss;
  if (tcb.cc.cwnd > cap && cap > 2 * tcb.sndMss) tcb.cc.cwnd = Math.max(cap, 2 * tcb.sndMss);
  tcb.dupAcks = 0;
  tcb.renoSacked = 0;
  tcb.lossEnd = tcb.sndUna;
  tcb.highRxt = tcb.sndUna;
  tcb.prrBudget = 0;
}

/** RFC 6937 PRR with slow-start reduction bound: how much may be sent for this ACK. */
function prrUpdate(tcb: Tcb, delivered: number): void {
  tcb.prrDelivered += delivered;
  const pipe = tcb.pipe();
  const ssthresh = tcb.cc.ssthresh;
  let sndcnt: number;
  if (pipe > ssthresh) {
    sndcnt = Math.ceil((tcb.prrDelivered * ssthresh) / Math.max(tcb.recoverFs, 1)) - tcb.prrOut;
  } else {
    const limit = Math.max(tcb.prrDelivered - tcb.prrOut, delivered) + tcb.sndMss;
    sndcnt = Math.min(ssthresh - pipe, limit);
  }
  if (sndcnt < 0) sndcnt = 0;
  // The fast retransmit itself is always allowed.
  if (tcb.prrOut === 0 && sndcnt < tcb.sndMss) sndcnt = tcb.sndMss;
  tcb.prrBudget = sndcnt;
}

// TCP send path and timers: what a connection transmits at poll() and when its timers fire.
//
//  1. tcpTimers(now): expired timers turn into flags (retransmit, probe, ACK) or end the connection
//     (TIME-WAIT over, retries exhausted, keepalive unanswered, FIN-WAIT-2 timeout).
//  2. tcpOutput(now): SYN / SYN-ACK in the opening states; then, in order,
//       a. retransmissions of lost data (RFC 6675 NextSeg rule 1) within the recovery budget
//          (PRR in fast recovery, cwnd - pipe after a timeout),
//       b. new data within min(cwnd - pipe, peer window), full segments first (Nagle, sender SWS
//          avoidance), a FIN once all data is out,
//       c. a window/keepalive probe, or a pure ACK when one is owed and nothing carried it.
//     Then it arms the retransmission and persist timers.
// Segments are built by the host (the Stack) from the Tcb's fields; data is copied straight from the
// send ring into the outgoing packet.
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../wire/constants.js';
import { seqAdd, seqDiff, seqGt, seqLt } from './seq.js';
import { Recovery, TcpState, type Tcb } from './tcb.js';

/** Floor of the tail loss probe timeout (Linux uses a few ms; scheduling noise below that). */
const PTO_MIN_MS = 10;
/** RFC 8985 WCDelAckT: the peer may delay the ACK of a lone segment this long. */
const DELAYED_ACK_ALLOWANCE_MS = 200;

/** Fires the Tcb's expired timers. */
export function tcpTimers(tcb: Tcb, now: number): void {
  const host = tcb.host;
  if (tcb.lingerAt <= now) {
    tcb.lingerAt = Infinity;
    switch (tcb.state) {
      case TcpState.TIME_WAIT:
        tcb.terminate(null);
        return;
      case TcpState.SYN_RECEIVED:
        // An accept-any request nobody decided on: refuse it.
        tcb.held = false;
        tcb.abort();
        return;
      case TcpState.FIN_WAIT_2:
        tcb.terminate(null);
        return;
      default:
        break;
    }
  }
  if (tcb.delAckAt <= now) {
    tcb.delAckAt = Infinity;
    tcb.ackNow = true;
    host.markDirty(tcb);
  }
  if (tcb.rtoAt <= now) {
    tcb.rtoAt = Infinity;
    tcb.ptoAt = Infinity;
    onRetransmitTimeout(tcb, now);
    if (tcb.state === TcpState.CLOSED) return;
  }
  if (tcb.ptoAt <= now) {
    tcb.ptoAt = Infinity;
    if (tcb.recovery === Recovery.OPEN && tcb.sndUna !== tcb.sndNxt && !tcb.tlpOutstanding) {
      tcb.needTlp = true;
      host.markDirty(tcb);
    }
  }
  if (tcb.persistAt <= now) {
    tcb.persistAt = Infinity;
    if (tcb.sndWnd === 0 && tcb.state !== TcpState.CLOSED) {
      tcb.persistBackoff++;
      tcb.persistUnanswered++;
      if (tcb.persistUnanswered > host.tcp.maxRetransmits * 2) {
        // The peer stopped answering probes altogether.
        tcb.terminate(tcb.softError ?? 'ETIMEDOUT');
        return;
      }
      tcb.needProbe = true;
      host.tcpCounters.zeroWindowProbes++;
      host.markDirty(tcb);
    }
  }
  if (tcb.keepAliveAt <= now) {
    tcb.keepAliveAt = Infinity;
    const s = tcb.state;
    if (tcb.keepAliveEnabled && (s === TcpState.ESTABLISHED || s === TcpState.CLOSE_WAIT)) {
      const idleUntil = tcb.lastRecvAt + tcb.keepAliveIdleMs;
      if (tcb.keepAliveProbes === 0 && idleUntil > now) {
        tcb.setKeepAliveTimer(idleUntil);
      } else if (tcb.keepAliveProbes >= host.tcp.keepAliveCount) {
        tcb.terminate(tcb.softError ?? 'ETIMEDOUT');
        return;
      } else {
        tcb.keepAliveProbes++;
        tcb.needProbe = true;
        host.tcpCounters.keepAliveProbes++;
        tcb.setKeepAliveTimer(now + host.tcp.keepAliveIntervalMs);
        host.markDirty(tcb);
      }
    }
  }
}

/** RFC 6298 5.4-5.7 plus RFC 5681 3.1 / RFC 6675 5.1 on a retransmission timeout. */
function onRetransmitTimeout(tcb: Tcb, now: number): void {
  const host = tcb.host;
  const cfg = host.tcp;
  const s = tcb.state;
  if (s === TcpState.SYN_SENT || s === TcpState.SYN_RECEIVED) {
    tcb.retransmitCount++;
    const limit = s === TcpState.SYN_SENT ? cfg.synRetries : cfg.synAckRetries;
    if (tcb.retransmitCount > limit) {
      tcb.terminate(s === TcpState.SYN_SENT ? (tcb.softError ?? 'ETIMEDOUT') : null);
      return;
    }
    tcb.rtt.backOff();
    tcb.needSyn = true;
    host.tcpCounters.retransmits++;
    host.markDirty(tcb);
    return;
  }
  if (tcb.sndUna === tcb.sndNxt) return; // nothing outstanding
  tcb.retransmitCount++;
  if (tcb.retransmitCount > cfg.maxRetransmits) {
    tcb.terminate(tcb.softError ?? 'ETIMEDOUT');
    return;
  }
  host.tcpCounters.rtoTimeouts++;
  const flight = seqDiff(tcb.sndNxt, tcb.sndUna);
  if (tcb.retransmitCount === 1 || tcb.recovery !== Recovery.LOSS) {
    // Remember what to restore if the ACKs show the timeout was spurious (RFC 3522 / RFC 4015).
    tcb.undoCwnd = tcb.recovery === Recovery.OPEN ? tcb.cc.cwnd : 0;
    tcb.undoSsthresh = tcb.cc.ssthresh;
    tcb.eifelTs = tcb.tsEnabled && tcb.undoCwnd > 0 ? tcb.tsVal(now) || 1 : 0;
    tcb.cc.onTimeout(now, flight);
  } else {
    tcb.cc.cwnd = tcb.sndMss;
    tcb.eifelTs = 0;
  }
  tcb.recovery = Recovery.LOSS;
  // RFC 2018 section 8: the timeout may mean the receiver reneged (discarded data it had SACKed), so
  // forget the SACK marks and resend from SND.UNA; fresh SACK blocks rebuild the scoreboard. Keeping
  // them left reneged data unsent for ever (every RTO skipped it) until the connection timed out.
  tcb.scoreboard.clear();
  tcb.recoverSeq = tcb.sndNxt;
  tcb.highRxt = tcb.sndUna;
  tcb.lossEnd = tcb.sndNxt;
  tcb.dupAcks = 0;
  tcb.renoSacked = 0;
  tcb.timing = false;
  tcb.rtt.backOff();
  host.markDirty(tcb);
}

/** Emits whatever `tcb` owes the network now. */
export function tcpOutput(tcb: Tcb, now: number): void {
  const host = tcb.host;
  switch (tcb.state) {
    case TcpState.CLOSED:
    case TcpState.LISTEN:
      return;
    case TcpState.SYN_SENT:
      if (tcb.needSyn) {
        tcb.needSyn = false;
        if (tcb.retransmitCount === 0) tcb.timedAt = now;
        host.emitSegment(tcb, tcb.iss, TCP_SYN, 0, now);
        tcb.setRto(now + tcb.rtt.rto);
      }
      return;
    case TcpState.SYN_RECEIVED:
      if (tcb.held) return;
      if (tcb.needSyn || tcb.ackNow) {
        tcb.needSyn = false;
        tcb.ackNow = false;
        if (tcb.retransmitCount === 0) tcb.timedAt = now;
        host.emitSegment(tcb, tcb.iss, TCP_SYN | TCP_ACK, 0, now);
        tcb.setRto(now + tcb.rtt.rto);
      }
      return;
    case TcpState.TIME_WAIT:
      if (tcb.ackNow) host.emitSegment(tcb, tcb.sndNxt, TCP_ACK, 0, now);
      tcb.ackNow = false;
      return;
    default:
      break;
  }

  const sentAck = sendData(tcb, now);
  if (tcb.needProbe) {
    tcb.needProbe = false;
    if (!sentAck) {
      // Window probe / keepalive: an old sequence number makes the peer answer with an ACK.
      host.emitSegment(tcb, seqAdd(tcb.sndUna, -1), TCP_ACK, 0, now);
    }
  } else if (!sentAck && tcb.ackNow) {
    host.emitSegment(tcb, tcb.sndNxt, TCP_ACK, 0, now);
  }

  // Timers: RTO while anything is outstanding (and a tail loss probe before it, RFC 8985 7.2);
  // persist when the peer's window is closed.
  if (tcb.sndUna !== tcb.sndNxt) {
    if (tcb.rtoAt === Infinity) tcb.setRto(now + tcb.rtt.rto);
    tcb.persistAt = Infinity;
    if (tcb.recovery === Recovery.OPEN && tcb.sackEnabled && !tcb.tlpOutstanding && tcb.rtt.samples > 0) {
      let pto = Math.max(2 * tcb.rtt.srtt, PTO_MIN_MS);
      if (seqDiff(tcb.sndNxt, tcb.sndUna) <= tcb.sndMss) pto += DELAYED_ACK_ALLOWANCE_MS;
      const rto = tcb.rtt.rto;
      if (pto < rto) tcb.setPto(now + pto);
      else tcb.ptoAt = Infinity;
    }
  } else if (tcb.sndWnd === 0 && (tcb.sndBuf.length > 0 || (tcb.finQueued && !tcb.finSent))) {
    if (tcb.persistAt === Infinity) {
      const backoff = Math.min(1 << Math.min(tcb.persistBackoff, 10), 64);
      tcb.setPersist(now + Math.min(tcb.rtt.rto * backoff, host.tcp.maxRtoMs));
    }
  }
}

/**
 * Retransmits [s, e) (at most one MSS; the FIN too when the range reaches past the data). Returns the
 * sequence space used (0 when there was nothing to send).
 */
function retransmit(tcb: Tcb, s: number, e: number, now: number): number {
  const bufEnd = tcb.sndBufEnd;
  const dataEnd = seqLt(e, bufEnd) ? e : bufEnd;
  const len = seqLt(s, dataEnd) ? seqDiff(dataEnd, s) : 0;
  const withFin = tcb.finSent && seqGt(e, bufEnd) && !seqLt(seqAdd(s, len), bufEnd);
  if (len === 0 && !withFin) return 0;
  let flags = TCP_ACK;
  if (withFin) flags |= TCP_FIN;
  else if (seqAdd(s, len) === bufEnd) flags |= TCP_PSH;
  tcb.host.emitSegment(tcb, s, flags, len, now);
  tcb.segmentsRetransmitted++;
  tcb.host.tcpCounters.retransmits++;
  tcb.timing = false;
  tcb.rtxLastNxt = tcb.sndNxt;
  if (tcb.rtoAt === Infinity) tcb.setRto(now + tcb.rtt.rto);
  return len + (withFin ? 1 : 0);
}

/** Retransmissions and new data; returns true when at least one segment (carrying an ACK) left. */
function sendData(tcb: Tcb, now: number): boolean {
  const host = tcb.host;
  const mss = tcb.sndMss;
  let sent = false;
  const recovery = tcb.recovery;
  let budget: number;
  if (recovery === Recovery.RECOVERY) budget = tcb.prrBudget;
  else budget = tcb.cc.cwnd - tcb.pipe();

  // Tail loss probe (RFC 8985 7.3): one new segment if the window allows, else the last one again.
  if (tcb.needTlp) {
    tcb.needTlp = false;
    tcb.tlpOutstanding = true;
    tcb.tlpEnd = tcb.sndNxt;
    host.tcpCounters.tailLossProbes++;
    const avail = seqDiff(tcb.sndBufEnd, tcb.sndNxt);
    const room = seqDiff(seqAdd(tcb.sndUna, tcb.sndWnd), tcb.sndNxt);
    if (avail > 0 && room > 0) {
      if (budget < mss) budget = mss;
      tcb.tlpEnd = seqAdd(tcb.sndNxt, Math.min(avail, mss, room));
    } else {
      const end = tcb.sndNxt;
      const start = seqDiff(end, tcb.sndUna) > mss ? seqAdd(end, -mss) : tcb.sndUna;
      if (retransmit(tcb, start, end, now) > 0) sent = true;
    }
    tcb.rtoAt = now + tcb.rtt.rto; // RFC 8985 7.3: re-arm the RTO after the probe
  }

  // a. Retransmit lost data (holes below lossEnd not yet retransmitted in this episode).
  if (recovery !== Recovery.OPEN) {
    const sb = tcb.scoreboard;
    while (budget > 0) {
      let s = seqGt(tcb.highRxt, tcb.sndUna) ? tcb.highRxt : tcb.sndUna;
      if (tcb.sackEnabled) s = sb.nextUnsacked(s);
      if (!seqLt(s, tcb.lossEnd)) break;
      let e = tcb.sackEnabled ? sb.nextSackedStart(s, tcb.lossEnd) : tcb.lossEnd;
      if (seqDiff(e, s) > mss) e = seqAdd(s, mss);
      const used = retransmit(tcb, s, e, now);
      if (used === 0) {
        tcb.highRxt = e;
        continue;
      }
      sent = true;
      tcb.highRxt = seqAdd(s, used);
      budget -= used;
      if (recovery === Recovery.RECOVERY) tcb.prrOut += used;
    }
  }

  // b. New data and the FIN.
  const wndEnd = seqAdd(tcb.sndUna, tcb.sndWnd);
  let flight = tcb.pipe();
  if (tcb.sndUna === tcb.sndNxt && now - tcb.lastSendAt > tcb.rtt.rto && tcb.lastSendAt > 0) {
    tcb.cc.onIdle(now, tcb.rtt.rto); // RFC 5681 4.1 restart after idle
    if (recovery !== Recovery.RECOVERY) budget = tcb.cc.cwnd - flight;
  }
  while (true) {
    const bufEnd = tcb.sndBufEnd;
    const nxt = tcb.sndNxt;
    const avail = seqGt(bufEnd, nxt) ? seqDiff(bufEnd, nxt) : 0;
    if (avail === 0) {
      if (tcb.finQueued && !tcb.finSent && nxt === bufEnd) {
        // A FIN takes no window (Linux sends it into a zero window too).
        host.emitSegment(tcb, nxt, TCP_FIN | TCP_ACK, 0, now);
        tcb.finSent = true;
        tcb.sndNxt = seqAdd(nxt, 1);
        tcb.lastSendAt = now;
        sent = true;
        if (tcb.rtoAt === Infinity) tcb.setRto(now + tcb.rtt.rto);
      }
      break;
    }
    const room = seqDiff(wndEnd, nxt);
    if (room <= 0 || budget <= 0) break;
    let len = avail < mss ? avail : mss;
    if (len > room) len = room;
    if (len > budget) len = budget > 0 ? Math.ceil(budget) : 0;
    if (len < mss && len < avail && flight > 0) break; // sender SWS avoidance: wait for a full segment
    // Nagle with Minshall's refinement (as Linux): a small segment waits only while an earlier small
    // segment is unacknowledged, so the tail of a large write goes out with it.
    if (len < mss && len === avail && !tcb.noDelay && !tcb.finQueued && seqGt(tcb.sndSmallEnd, tcb.sndUna))
      break;
    const last = seqAdd(nxt, len) === bufEnd;
    let flags = TCP_ACK;
    if (last) flags |= TCP_PSH;
    const withFin = last && tcb.finQueued && !tcb.finSent;
    if (withFin) flags |= TCP_FIN;
    host.emitSegment(tcb, nxt, flags, len, now);
    sent = true;
    if (len < mss) tcb.sndSmallEnd = seqAdd(nxt, len);
    if (!tcb.timing && !tcb.tsEnabled) {
      tcb.timing = true;
      tcb.timedSeq = seqAdd(nxt, len);
      tcb.timedAt = now;
    }
    tcb.sndNxt = seqAdd(nxt, len + (withFin ? 1 : 0));
    if (withFin) tcb.finSent = true;
    tcb.lastSendAt = now;
    budget -= len;
    flight += len;
    if (tcb.rtoAt === Infinity) tcb.setRto(now + tcb.rtt.rto);
    if (withFin) break;
  }
  return sent;
}

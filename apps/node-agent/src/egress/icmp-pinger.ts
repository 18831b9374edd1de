/**
 * Real ICMP echo for the userspace egress without any privilege: unprivileged ICMP datagram sockets
 * (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, allowed when net.ipv4.ping_group_range admits our
 * group). Node has no such socket and iputils `ping` cannot be used (it carries file capabilities,
 * which a process with an empty bounding set and no_new_privs may not exec), so a tiny helper does
 * it: a Perl script (perl-base and its core Socket module are on every Debian system, slim images
 * included) kept running for the agent's lifetime, one line per request and per answer:
 *
 *   request  "<tag> <4|6> <address> <payload bytes>\n"
 *   answer   "<tag> ok|timeout|denied\n"          (timeout after 2 s; denied = no ICMP socket allowed)
 *   at start "ready <4:ok|denied> <6:ok|denied>\n"
 *
 * Replies are matched by the echo sequence number the helper chose (the kernel owns the ICMP id of a
 * datagram socket and hands each socket only its own replies). A reply is reported ONLY when the real
 * destination answered. `close()` ends the helper; pending requests resolve 'timeout'.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

const HELPER = String.raw`
use strict; use warnings; use Socket qw(:all); use IO::Select; use POSIX qw(EINTR);
$| = 1;
my (%sock, %ok);
for my $f (4, 6) {
  my $s;
  my $r = $f == 4 ? socket($s, PF_INET, SOCK_DGRAM, 1) : socket($s, PF_INET6, SOCK_DGRAM, 58);
  if ($r) { $sock{$f} = $s; $ok{$f} = 'ok' } else { $ok{$f} = 'denied' }
}
print "ready 4:$ok{4} 6:$ok{6}\n";
my $sel = IO::Select->new(\*STDIN, grep { defined } values %sock);
my %pending; my $seq = int(rand(65536)); my $buf = '';
while (1) {
  my $now = time;
  for my $k (keys %pending) { if ($pending{$k}[1] <= $now) { print "$pending{$k}[0] timeout\n"; delete $pending{$k} } }
  my @ready = $sel->can_read(0.25);
  for my $fh (@ready) {
    if ($fh == \*STDIN) {
      my $n = sysread(STDIN, $buf, 65536, length $buf);
      exit 0 if defined $n && $n == 0;
      while ($buf =~ s/^([^\n]*)\n//) {
        my ($tag, $fam, $addr, $size) = split / /, $1;
        next unless defined $size && $tag =~ /^\d+$/;
        if (!$sock{$fam}) { print "$tag denied\n"; next }
        $size = 0 if $size !~ /^\d+$/ || $size > 65000;
        $seq = ($seq + 1) & 0xffff;
        my $msg = pack('CCnnn', $fam == 4 ? 8 : 128, 0, 0, 0, $seq) . ("\x00" x $size);
        my $to;
        if ($fam == 4) { my $a = inet_pton(AF_INET, $addr); $to = pack_sockaddr_in(0, $a) if $a }
        else { my $a = inet_pton(AF_INET6, $addr); $to = pack_sockaddr_in6(0, $a) if $a }
        if (!$to || !send($sock{$fam}, $msg, 0, $to)) { print "$tag timeout\n"; next }
        $pending{"$fam:$seq"} = [$tag, time + 2];
      }
    } else {
      my $fam = (defined $sock{4} && $fh == $sock{4}) ? 4 : 6;
      my $in = '';
      recv($fh, $in, 65535, 0) or next;
      next if length($in) < 8;
      my ($type, $code, $ck, $id, $s) = unpack('CCnnn', $in);
      next unless $type == ($fam == 4 ? 0 : 129);
      my $p = delete $pending{"$fam:$s"};
      print "$p->[0] ok\n" if $p;
    }
  }
}
`;

export type EchoOutcome = 'ok' | 'timeout' | 'denied';

export class IcmpPinger {
  private child: ChildProcessWithoutNullStreams | null = null;
  private nextTag = 1;
  private readonly pending = new Map<number, (o: EchoOutcome) => void>();
  /** Per family: can we open an ICMP datagram socket (known once the helper said 'ready'). */
  allowed: { 4: boolean; 6: boolean } | null = null;
  failed: string | null = null;
  private readyWaiters: (() => void)[] = [];

  constructor(private readonly perl = process.env.CORRIDOR_PERL_COMMAND ?? 'perl') {}

  /** Starts the helper; resolves once it reported which families it may ping (or failed). */
  start(): Promise<void> {
    if (this.child !== null)
      return this.allowed !== null || this.failed ? Promise.resolve() : this.waitReady();
    const child = spawn(this.perl, ['-e', HELPER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.on('error', (err) => this.fail(`cannot run ${this.perl}: ${err.message}`));
    child.on('exit', (code, signal) => this.fail(`the ICMP helper exited (${signal ?? code})`));
    child.stderr.resume();
    child.stdin.on('error', () => undefined);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [a, b, c] = line.split(' ');
      if (a === 'ready') {
        this.allowed = { 4: b === '4:ok', 6: c === '6:ok' };
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      }
      const cb = this.pending.get(Number(a));
      if (cb === undefined) return;
      this.pending.delete(Number(a));
      cb(b === 'ok' ? 'ok' : b === 'denied' ? 'denied' : 'timeout');
    });
    return this.waitReady();
  }

  private waitReady(): Promise<void> {
    return new Promise((r) => this.readyWaiters.push(r));
  }

  private fail(why: string): void {
    if (this.failed === null) this.failed = why;
    this.allowed ??= { 4: false, 6: false };
    for (const w of this.readyWaiters.splice(0)) w();
    for (const cb of this.pending.values()) cb('timeout');
    this.pending.clear();
    this.child = null;
  }

  /** One echo to `address`; resolves when the destination answered, after 2 s, or at once when denied. */
  echo(family: 4 | 6, address: string, payloadBytes: number): Promise<EchoOutcome> {
    const child = this.child;
    if (child === null || this.allowed === null || !this.allowed[family]) return Promise.resolve('denied');
    const tag = this.nextTag++;
    return new Promise((resolve) => {
      this.pending.set(tag, resolve);
      child.stdin.write(`${tag} ${family} ${address} ${Math.max(0, Math.min(payloadBytes, 65000))}\n`);
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  close(): void {
    const c = this.child;
    this.child = null;
    if (c !== null) {
      c.removeAllListeners('exit');
      c.stdin.end();
      c.kill();
    }
    for (const cb of this.pending.values()) cb('timeout');
    this.pending.clear();
  }
}

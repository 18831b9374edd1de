// The host helpers on a real kernel (root): processes and their groups, commands, link blocks and
// loss (checked by what gets through and by the rules' own counters), captures, fetch failures.
// A small lab of four hosts for the file.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLab, LabError, labSkipReason, type Lab, type LabHost } from './index.js';

const skip = labSkipReason();
if (skip) console.warn(`[lab] skipping the lab helper tests: ${skip}`);

/** Sends one DNS query over UDP from `host` and reports 'reply', 'timeout' or 'error:<code>'. */
async function udpProbe(host: LabHost, address: string, port = 53): Promise<string> {
  const script = `
    const s = require('node:dgram').createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
    const q = Buffer.from('abcd01000001000000000000036c61620000010001', 'hex');
    s.on('message', () => { console.log('reply'); process.exit(0); });
    s.send(q, Number(process.argv[2]), process.argv[1], (e) => { if (e) { console.log('error:' + e.code); process.exit(0); } });
    setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);`;
  return (await host.run([process.execPath, '-e', script, address, String(port)])).trim();
}

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe.skipIf(skip !== undefined)('lab host helpers', () => {
  let lab: Lab;
  let client: LabHost;
  let web: LabHost;
  let resolver: LabHost;
  beforeAll(async () => {
    lab = await createLab({
      label: 'helpers.test',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'client', role: 'client' },
        { name: 'node', role: 'node', region: 'eu' },
        { name: 'web', role: 'web-echo' },
      ],
    });
    client = lab.host('client');
    web = lab.host('web');
    resolver = lab.host('resolver');
  });
  afterAll(() => lab?.down());
  // A failed assertion must not leave a block behind for the next test.
  afterEach(async () => {
    if (lab && !lab.closed) await Promise.all(lab.hosts.map((h) => h.clearLinkRules()));
  });

  describe('commands and processes', () => {
    it('runs commands inside the host’s namespace; run() rejects with the output, exec() reports it', async () => {
      expect(await client.run('ip -o -4 addr show')).toContain(`inet ${client.v4}/24`);
      const r = await client.exec('echo out; echo err >&2; exit 3');
      expect(r).toMatchObject({ code: 3, ok: false, stdout: 'out\n', stderr: 'err\n', timedOut: false });
      const err = await client.run('echo nope >&2; exit 4').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LabError);
      expect((err as LabError).code).toBe('CORRIDOR_ERR_LAB_COMMAND_FAILED');
      expect((err as LabError).message).toMatch(/\[client\].*exited with 4[\s\S]*stderr: nope/);
      const slow = await client.exec(['sleep', '5'], { timeoutMs: 300 });
      expect(slow).toMatchObject({ ok: false, timedOut: true });
      expect(await client.run(['cat'], { input: 'piped' })).toBe('piped');
    });

    it('starts a long-running process in its own group and stops the whole group', async () => {
      const p = client.spawn(`sleep 300 & echo "child $!"; echo ready >&2; sleep 300`, { name: 'sleeper' });
      const line = await p.waitFor(/^child \d+$/);
      await p.waitFor('ready', { stream: 'stderr' });
      const child = Number(line.split(' ')[1]);
      expect(alive(p.pid) && alive(child)).toBe(true);
      expect(p.running).toBe(true);
      const status = await p.stop({ graceMs: 2000 });
      expect(status.signal).toBe('SIGTERM');
      for (let i = 0; i < 50 && alive(child); i++) await new Promise((r) => setTimeout(r, 20));
      expect(alive(child)).toBe(false);
      expect(p.running).toBe(false);
      expect(await p.stop()).toEqual(status); // idempotent
    });

    it('escalates to SIGKILL when a process ignores SIGTERM', async () => {
      const p = client.spawn(`trap '' TERM; echo armed; while :; do sleep 0.1; done`, { name: 'stubborn' });
      await p.waitFor('armed');
      const status = await p.stop({ graceMs: 300 });
      expect(status.signal).toBe('SIGKILL');
    });

    it('waitFor fails with the output when the process exits first, or on timeout', async () => {
      const p = client.spawn('echo starting; exit 3', { name: 'quitter' });
      const err = (await p.waitFor('listening').catch((e: unknown) => e)) as LabError;
      expect(err.code).toBe('CORRIDOR_ERR_LAB_SERVICE_FAILED');
      expect(err.message).toMatch(/exited \(code 3[\s\S]*starting/);
      const q = client.spawn('echo hello; sleep 30', { name: 'quiet' });
      const t = (await q.waitFor('never', { timeoutMs: 300 }).catch((e: unknown) => e)) as LabError;
      expect(t.code).toBe('CORRIDOR_ERR_LAB_TIMEOUT');
      expect(t.message).toContain('hello');
      await q.stop();
    });
  });

  describe('link rules', () => {
    it('blocks UDP on a host’s link silently (the sender sees no error) and leaves TCP alone', async () => {
      expect(await udpProbe(client, resolver.v4)).toBe('reply');
      expect(await udpProbe(client, resolver.v6)).toBe('reply');
      const rule = await client.block({ proto: 'udp' });
      expect(await udpProbe(client, resolver.v4)).toBe('timeout');
      expect(await udpProbe(client, resolver.v6)).toBe('timeout');
      expect(await client.get(web.url('/', { family: 4 }))).toBe(`${client.v4}\n`);
      expect(await rule.dropped()).toBeGreaterThanOrEqual(2);
      await rule.remove();
      expect(rule.active).toBe(false);
      expect(await udpProbe(client, resolver.v4)).toBe('reply');
    });

    it('blocks one TCP port towards one peer, and inbound only when asked', async () => {
      const rule = await client.block({ proto: 'tcp', port: 80, peer: web.v4 });
      const blocked = await client.fetch(web.url('/', { family: 4 }), { timeoutMs: 1500 });
      expect(blocked).toMatchObject({ type: 'error', reason: 'timeout' });
      expect(await client.get(web.url('/', { family: 6 }))).toBe(`${client.v6}\n`); // other family, other peer
      expect(await client.ping(web)).toBe(true);
      await rule.remove();

      const inbound = await web.block({ proto: 'tcp', port: 80, direction: 'in' });
      expect(await client.fetch(web.url('/'), { timeoutMs: 1500 })).toMatchObject({
        type: 'error',
        reason: 'timeout',
      });
      expect(
        await web
          .get(lab.host('node').url('/', { port: 9 }), { timeoutMs: 1500 })
          .catch((e: LabError) => e.message),
      ).toMatch(
        /refused/, // outbound TCP from web still flows (and node answers RST on a closed port)
      );
      await inbound.remove();
      expect(await client.get(web.url('/'))).toBe(`${client.v4}\n`);
    });

    it('blocks ping without breaking IPv6 neighbour discovery', async () => {
      const rule = await client.block({ proto: 'icmp' });
      expect(await client.ping(web, { family: 4, timeoutMs: 1000 })).toBe(false);
      expect(await client.ping(web, { family: 6, timeoutMs: 1000 })).toBe(false);
      await client.exec(['ip', '-6', 'neigh', 'flush', 'dev', client.iface]);
      expect(await client.get(web.url('/', { family: 6 }))).toBe(`${client.v6}\n`);
      await rule.remove();
      expect(await client.ping(web, { family: 6 })).toBe(true);
    });

    it('drops about the given share of packets with loss(), counted by the rule', async () => {
      const rule = await client.loss(50, { proto: 'icmp', family: 4, direction: 'out' });
      const r = await client.exec(['ping', '-n', '-q', '-c', '200', '-i', '0.005', '-W', '1', web.v4]);
      const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? -1);
      // Binomial(200, 0.5): outside 50..150 has probability below 1e-12.
      expect(received).toBeGreaterThan(50);
      expect(received).toBeLessThan(150);
      // Every dropped request is a missing reply; a reply later than ping's 1 s wait is missing too.
      const dropped = await rule.dropped();
      expect(dropped).toBeLessThanOrEqual(200 - received);
      expect(dropped).toBeGreaterThanOrEqual(200 - received - 5);
      await rule.remove();
      await expect(client.loss(0, {})).rejects.toThrow(/0.1..100/);
    });

    it('clearLinkRules removes every rule of the host', async () => {
      await client.block({ proto: 'tcp' });
      await client.block({ proto: 'udp' });
      expect(await client.fetch(web.url('/'), { timeoutMs: 1000 })).toMatchObject({ type: 'error' });
      await client.clearLinkRules();
      expect(await client.get(web.url('/'))).toBe(`${client.v4}\n`);
      expect(await udpProbe(client, resolver.v4)).toBe('reply');
    });
  });

  describe('captures', () => {
    it('captures a link into a pcap that shows the transfer, its addresses and its payload', async () => {
      const cap = await client.capture({ name: 'marker' });
      const marker = `corridor-capture-${lab.runId}`;
      expect(await client.fetch(web.url('/', { family: 6 }), { method: 'POST', body: marker })).toMatchObject(
        { status: 200, body: marker },
      );
      const result = await cap.stop();
      expect(result.file.startsWith(lab.dir)).toBe(true);
      expect(result.contains(marker)).toBe(true);
      const tcp = result.packets().filter((p) => p.transport === 'tcp');
      expect(tcp.some((p) => p.src === client.v6 && p.dst === web.v6 && p.dport === 80)).toBe(true);
      expect(tcp.some((p) => p.src === web.v6 && p.sport === 80 && p.payload.includes(marker))).toBe(true);
      expect(await cap.stop()).toBe(result); // idempotent
    });

    it('applies a capture filter; the host sees what it sent even when the link drops it', async () => {
      const cap = await client.capture({ filter: 'udp', name: 'udp-only' });
      const far = await resolver.capture({ filter: 'udp', name: 'far-end' });
      await client.get(web.url('/'));
      expect(await udpProbe(client, resolver.v4)).toBe('reply');
      const rule = await client.block({ proto: 'udp', port: 5353, direction: 'out' });
      expect(await udpProbe(client, resolver.v4, 5353)).toBe('timeout');
      await rule.remove();
      const sent = (await cap.stop()).packets();
      const arrived = (await far.stop()).packets();
      expect(sent.every((p) => p.transport === 'udp')).toBe(true);
      expect(sent.some((p) => p.dport === 53 && p.dst === resolver.v4)).toBe(true);
      expect(sent.some((p) => p.dport === 5353 && p.dst === resolver.v4)).toBe(true);
      expect(arrived.some((p) => p.dport === 53 && p.src === client.v4)).toBe(true);
      expect(arrived.some((p) => p.dport === 5353)).toBe(false);
    });
  });

  describe('fetch', () => {
    it('tells refused, unknown name, unreachable and timeout apart', async () => {
      expect(await client.fetch(web.url('/', { port: 81 }))).toMatchObject({
        type: 'error',
        reason: 'refused',
      });
      expect(await client.fetch('http://nosuch.lab/')).toMatchObject({ type: 'error', reason: 'dns' });
      // Inside the lab ranges but on no link: the backbone answers "unreachable".
      expect(await client.fetch('http://198.51.100.250/', { timeoutMs: 3000 })).toMatchObject({
        type: 'error',
        reason: 'unreachable',
      });
      const rule = await client.block({ proto: 'tcp', port: 80 });
      expect(await client.fetch(web.url('/'), { timeoutMs: 800 })).toMatchObject({
        type: 'error',
        reason: 'timeout',
      });
      await rule.remove();
      const notFound = await client.fetch(web.url('/nope'));
      expect(notFound).toMatchObject({ type: 'response', status: 404 });
      await expect(client.get(web.url('/nope'))).rejects.toThrow(/HTTP 404/);
    });
  });
});

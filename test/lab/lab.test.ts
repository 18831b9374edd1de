// The default lab on a real kernel (root): who reaches whom, what the web hosts see, what the
// resolver answers through each namespace's own resolv.conf. One lab for the file, removed afterwards.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, DNS_TYPE, parseResponse, RCODE } from './dns-wire.js';
import { createLab, labSkipReason, type Lab } from './index.js';

const skip = labSkipReason();
if (skip) console.warn(`[lab] skipping the netns lab tests: ${skip}`);

describe.skipIf(skip !== undefined)('the default lab', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab({ label: 'lab.test' });
    console.log(`${lab.describe()}\n[lab] build took ${lab.buildMs.toFixed(0)} ms`);
  });
  afterAll(() => lab?.down());

  it('has the hosts the end-to-end tests expect, with addresses in the lab ranges', () => {
    expect(lab.hosts.map((h) => `${h.name}:${h.role}`)).toEqual([
      'resolver:resolver',
      'controller:controller',
      'node-eu:node',
      'node-us:node',
      'client1:client',
      'client2:client',
      'web:web-echo',
      'geo-eu:web-geo',
    ]);
    expect(lab.node('eu').name).toBe('node-eu');
    expect(lab.node('us').v4).toMatch(/^198\.19\./);
    expect(lab.hostsWithRole('client').map((h) => h.name)).toEqual(['client1', 'client2']);
    expect(lab.http('web').mode).toBe('echo');
    expect(() => lab.host('nope')).toThrow(/no host "nope"/);
    for (const h of lab.hosts) {
      expect(h.ns).toBe(`crl-${lab.runId}-${h.name}`);
      expect(h.iface).toContain(lab.runId);
      expect(h.routerIface).toContain(lab.runId);
    }
  });

  it('connects every host to every other over IPv4 and IPv6 (the connectivity matrix)', async () => {
    const rows = await Promise.all(
      lab.hosts.map(async (from) => ({
        from,
        results: await from.reachability(lab.hosts.filter((h) => h !== from)),
      })),
    );
    const failures = rows.flatMap(({ from, results }) =>
      results.filter((r) => !r.ok).map((r) => `${from.name} -> ${r.target} (IPv${r.family} ${r.address})`),
    );
    expect(failures).toEqual([]);
    expect(rows.reduce((n, r) => n + r.results.length, 0)).toBe(8 * 7 * 2);
  });

  it('gives hosts a default route via their link only, and the backbone no way out', async () => {
    const client = lab.host('client1');
    expect((await client.run('ip -4 route show default')).trim()).toBe(
      `default via ${client.gateway4} dev ${client.iface}`,
    );
    expect(await client.run('ip -6 route show default')).toContain(
      `default via ${client.gateway6} dev ${client.iface}`,
    );
    // Interfaces: loopback and the one link, nothing else.
    expect(
      (await client.run(['ip', '-o', 'link', 'show']))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(': ')[1]?.split('@')[0]),
    ).toEqual(['lo', client.iface]);
    // The backbone has routes to the lab's links and nothing else: the host's own network is unreachable.
    const v4 = await lab.routerExec(['ip', '-4', 'route', 'show']);
    expect(v4.stdout).not.toMatch(/default/);
    for (const dst of ['192.0.2.1', '10.255.255.53', '8.8.8.8', '10.8.0.12']) {
      const r = await lab.routerExec(['ip', 'route', 'get', dst]);
      expect(r.ok, `${dst}: ${r.stdout}`).toBe(false);
      expect(r.stderr).toMatch(/unreachable/i);
    }
    const v6 = await lab.routerExec(['ip', '-6', 'route', 'get', 'fd00::1']);
    expect(v6.ok).toBe(false);
  });

  it('echo host answers with the caller’s own address, over IPv4 and IPv6, by literal and by name', async () => {
    for (const name of ['client1', 'client2', 'node-eu', 'controller']) {
      const h = lab.host(name);
      expect(await h.get(lab.http('web').url('/', 4))).toBe(`${h.v4}\n`);
      expect(await h.get(lab.http('web').url('/', 6))).toBe(`${h.v6}\n`);
      expect(await h.get('http://web.lab/', { family: 4 })).toBe(`${h.v4}\n`);
      expect(await h.get('http://echo.lab/', { family: 6 })).toBe(`${h.v6}\n`);
    }
    const json = JSON.parse(await lab.host('client2').get(lab.http('web').url('/json', 6))) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({
      remote: lab.host('client2').v6,
      family: 'ipv6',
      server: 'web',
      mode: 'echo',
    });
    const seen = lab
      .http('web')
      .requests()
      .map((r) => r.from);
    expect(seen).toContain(lab.host('client1').v4);
    expect(seen).toContain(lab.host('node-eu').v6);
  });

  it('echo host serves transfers of a given size and echoes request bodies', async () => {
    const c = lab.host('client1');
    const big = await c.fetch(lab.http('web').url('/bytes/3000000'), { discardBody: true });
    expect(big).toMatchObject({ type: 'response', status: 200, bytes: 3_000_000 });
    const marker = `corridor-marker-${lab.runId}`;
    const echoed = await c.fetch('http://web.lab/post', { method: 'POST', body: marker });
    expect(echoed).toMatchObject({ type: 'response', status: 200, body: marker });
  });

  it('region-locked host serves only addresses of its region, on both families', async () => {
    const url = (f: 4 | 6) => lab.http('geo-eu').url('/', f);
    for (const f of [4, 6] as const) {
      const eu = await lab.node('eu').fetch(url(f));
      expect(eu).toMatchObject({ type: 'response', status: 200, body: `${lab.node('eu').address(f)}\n` });
      for (const other of [lab.node('us'), lab.host('client1'), lab.host('controller')]) {
        const r = await other.fetch(url(f));
        expect(r, `${other.name} IPv${f}`).toMatchObject({ type: 'response', status: 403 });
        if (r.type === 'response') expect(r.body).toContain('not in region eu');
      }
    }
    const statuses = lab
      .http('geo-eu')
      .requests()
      .map((r) => `${r.from} ${r.status}`);
    expect(statuses).toContain(`${lab.node('eu').v6} 200`);
    expect(statuses).toContain(`${lab.node('us').v4} 403`);
  });

  it('writes each namespace’s resolv.conf pointing at the lab resolver, and leaves the machine’s alone', async () => {
    const rootBefore = readFileSync('/etc/resolv.conf', 'utf8');
    const resolver = lab.host('resolver');
    for (const h of [lab.host('client1'), lab.node('us')]) {
      const conf = await h.run('cat /etc/resolv.conf');
      expect(conf).toContain(`nameserver ${resolver.v4}\nnameserver ${resolver.v6}\n`);
      expect(conf).toBe(readFileSync(`/etc/netns/${h.ns}/resolv.conf`, 'utf8'));
    }
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(rootBefore);
  });

  it('resolves lab names through the resolver, which logs who asked', async () => {
    lab.dns.clearEvents();
    const c = lab.host('client2');
    const out = await c.run(['getent', 'ahosts', 'geo-eu.lab']);
    expect(out).toContain(lab.host('geo-eu').v4);
    expect(out).toContain(lab.host('geo-eu').v6);
    expect((await c.run(['getent', 'ahostsv4', 'node-us.lab'])).split(/\s+/)[0]).toBe(lab.node('us').v4);
    const unknown = await c.exec(['getent', 'hosts', 'missing.lab']);
    expect(unknown.code).toBe(2); // not found
    const outside = await c.exec(['getent', 'hosts', 'example.com']);
    expect(outside.ok).toBe(false);
    const q = lab.dns.queries();
    expect(q).toContainEqual(
      expect.objectContaining({ from: c.v4, name: 'geo-eu.lab', type: 'A', rcode: 'NOERROR', answers: 1 }),
    );
    expect(q).toContainEqual(
      expect.objectContaining({ from: c.v4, name: 'geo-eu.lab', type: 'AAAA', answers: 1 }),
    );
    expect(q).toContainEqual(expect.objectContaining({ from: c.v4, name: 'missing.lab', rcode: 'NXDOMAIN' }));
    expect(q).toContainEqual(expect.objectContaining({ from: c.v4, name: 'example.com', rcode: 'REFUSED' }));
    // Only this client asked (glibc may retry a refused name on the second, IPv6 nameserver).
    expect(q.every((e) => e.from === c.v4 || e.from === c.v6)).toBe(true);
  });

  it('answers over UDP and TCP on IPv6 too, and takes new records at run time', async () => {
    await lab.dns.set('cdn.lab', { a: ['198.51.100.200'], aaaa: ['2001:db8:100:99::1'] });
    const c = lab.host('client1');
    const resolver = lab.host('resolver');
    // A tiny client run inside the client namespace: one query over UDP and one over TCP to the IPv6 address.
    const script = `
      const dgram = require('node:dgram'); const net = require('node:net');
      const q = Buffer.from(process.argv[1], 'hex'); const server = process.argv[2];
      const s = dgram.createSocket('udp6');
      s.on('message', (m) => { process.stdout.write('udp ' + m.toString('hex') + '\\n'); s.close();
        const c = net.connect(53, server, () => { const l = Buffer.alloc(2); l.writeUInt16BE(q.length); c.write(Buffer.concat([l, q])); });
        let b = Buffer.alloc(0);
        c.on('data', (d) => { b = Buffer.concat([b, d]); if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) { process.stdout.write('tcp ' + b.subarray(2).toString('hex') + '\\n'); c.end(); } });
      });
      s.send(q, 53, server);
      setTimeout(() => process.exit(3), 5000).unref();`;
    const query = Buffer.from(buildQuery(0x4242, 'CDN.lab', DNS_TYPE.AAAA)).toString('hex');
    const out = await c.run([process.execPath, '-e', script, query, resolver.v6]);
    const answers = out
      .trim()
      .split('\n')
      .map((l) => parseResponse(Buffer.from(l.split(' ')[1] ?? '', 'hex')));
    expect(answers).toHaveLength(2);
    for (const a of answers) {
      expect(a).toEqual({
        id: 0x4242,
        rcode: RCODE.NOERROR,
        aa: true,
        answers: [{ type: DNS_TYPE.AAAA, ttl: 5, address: '2001:db8:100:99::1' }],
      });
    }
    const transports = lab.dns
      .queries()
      .filter((e) => e.name === 'cdn.lab')
      .map((e) => `${e.transport} ${e.from}`);
    expect(transports).toEqual([`udp ${c.v6}`, `tcp ${c.v6}`]);
    // 40 A records do not fit 512 bytes: the UDP answer is truncated and glibc retries over TCP.
    const many = Array.from({ length: 40 }, (_, i) => `198.51.100.${100 + i}`);
    await lab.dns.set('many.lab', { a: many });
    const got = (await c.run(['getent', 'ahostsv4', 'many.lab']))
      .split('\n')
      .filter((l) => l.includes('STREAM'));
    expect(got.map((l) => l.split(/\s+/)[0]).sort()).toEqual([...many].sort());
    const manyQueries = lab.dns.queries().filter((e) => e.name === 'many.lab' && e.type === 'A');
    expect(manyQueries.map((e) => e.transport)).toContain('tcp');
    await lab.dns.delete('many.lab');
    await lab.dns.delete('cdn.lab');
    expect((await c.exec(['getent', 'hosts', 'cdn.lab'])).code).toBe(2);
    await expect(lab.dns.set('bad.lab', { a: ['2001:db8::1'] })).rejects.toThrow(/not addresses/);
  });

  it('adds a host at run time: linked, named, and counted in its region', async () => {
    const extra = await lab.addHost({ name: 'eu-box', role: 'plain', region: 'eu' });
    expect(extra.v4).toBe('198.19.17.2'); // second host of region eu
    expect(await extra.get('http://geo-eu.lab/', { family: 6 })).toBe(`${extra.v6}\n`);
    expect(await lab.host('client1').ping(extra, { family: 6 })).toBe(true);
    expect((await lab.host('client1').run(['getent', 'ahostsv4', 'eu-box.lab'])).split(/\s+/)[0]).toBe(
      extra.v4,
    );
    await expect(lab.addHost({ name: 'eu-box', role: 'plain' })).rejects.toThrow(
      /two hosts are named eu-box/,
    );
  });
});

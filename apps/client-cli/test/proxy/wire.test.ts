/**
 * The proxy's parsers against well-formed, truncated and random (hostile) bytes: SOCKS5 / RFC 1929
 * (socks5-wire.ts), the HTTP proxy request head (http-wire.ts), DNS answers (dns-wire.ts). None may
 * throw; every truncation of a valid message is 'incomplete' (stream parsers); results round-trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildDnsQuery, parseDnsAnswer, TYPE_A, TYPE_AAAA } from '../../src/proxy/dns-wire.js';
import { MAX_HEAD_BYTES, parseProxyRequest, rewriteHead } from '../../src/proxy/http-wire.js';
import {
  buildReply,
  buildUdpDatagram,
  parseAuth,
  parseGreeting,
  parseRequest,
  parseUdpDatagram,
  REP,
  validHostName,
} from '../../src/proxy/socks5-wire.js';
import { dnsReply } from '../helpers/fake-internet.js';

const bytes = (max = 600) => fc.uint8Array({ minLength: 0, maxLength: max });

describe('SOCKS5 wire', () => {
  it('parses a greeting, auth and requests of every address type', () => {
    expect(parseGreeting(Buffer.from([5, 2, 0, 2, 9]))).toEqual({
      type: 'ok',
      value: { methods: [0, 2] },
      consumed: 4,
    });
    expect(parseGreeting(Buffer.from([4, 1, 0]))).toEqual({ type: 'error', reason: 'badVersion' });
    expect(parseGreeting(Buffer.from([5, 0]))).toEqual({ type: 'error', reason: 'noMethods' });
    const auth = parseAuth(Buffer.from([1, 1, 0x61, 2, 0x62, 0x63]));
    expect(auth.type === 'ok' && [auth.value.username.toString(), auth.value.password.toString()]).toEqual([
      'a',
      'bc',
    ]);
    expect(parseAuth(Buffer.from([1, 0, 0]))).toEqual({ type: 'error', reason: 'emptyUsername' });
    expect(parseRequest(Buffer.from([5, 1, 0, 1, 198, 51, 100, 7, 0, 80]))).toEqual({
      type: 'ok',
      value: { command: 1, address: { kind: 'ipv4', host: '198.51.100.7', port: 80 } },
      consumed: 10,
    });
    const v6 = Buffer.from([5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1, 1, 0xbb]);
    expect(parseRequest(v6)).toMatchObject({
      type: 'ok',
      value: { address: { kind: 'ipv6', host: '2001:db8::1', port: 443 } },
    });
    const name = Buffer.concat([Buffer.from([5, 1, 0, 3, 7]), Buffer.from('web.lab'), Buffer.from([0, 80])]);
    expect(parseRequest(name)).toMatchObject({
      type: 'ok',
      value: { address: { kind: 'domain', host: 'web.lab' } },
    });
    // curl sends numeric addresses as names sometimes: they are numeric.
    const num = Buffer.concat([Buffer.from([5, 1, 0, 3, 8]), Buffer.from('10.0.0.1'), Buffer.from([0, 80])]);
    expect(parseRequest(num)).toMatchObject({
      type: 'ok',
      value: { address: { kind: 'ipv4', host: '10.0.0.1' } },
    });
    expect(parseRequest(Buffer.from([5, 9, 0, 1, 1, 2, 3, 4, 0, 80]))).toEqual({
      type: 'error',
      reason: 'badCommand',
    });
    expect(parseRequest(Buffer.from([5, 1, 0, 7, 1, 2, 3, 4, 0, 80]))).toEqual({
      type: 'error',
      reason: 'badAddressType',
    });
    expect(parseRequest(Buffer.from([5, 1, 0, 1, 1, 2, 3, 4, 0, 0]))).toEqual({
      type: 'error',
      reason: 'badPort',
    });
    const bad = Buffer.concat([
      Buffer.from([5, 1, 0, 3, 8]),
      Buffer.from('a b\r\nc.d'),
      Buffer.from([0, 80]),
    ]);
    expect(parseRequest(bad)).toEqual({ type: 'error', reason: 'badDomain' });
  });

  it('every truncation of a valid message is incomplete, never an error or a throw', () => {
    const msgs = [
      Buffer.from([5, 3, 0, 1, 2]),
      Buffer.from([1, 3, 0x61, 0x62, 0x63, 2, 0x78, 0x79]),
      Buffer.concat([Buffer.from([5, 1, 0, 3, 7]), Buffer.from('web.lab'), Buffer.from([0, 80])]),
      Buffer.from([5, 3, 0, 4, ...Array(16).fill(0), 0, 0]),
    ];
    const parsers = [parseGreeting, parseAuth, parseRequest, parseRequest];
    msgs.forEach((m, k) => {
      for (let n = 0; n < m.length; n++) expect(parsers[k]!(m.subarray(0, n)).type).toBe('incomplete');
      expect(parsers[k]!(m).type).toBe('ok');
    });
  });

  it('random bytes: no parser throws; ok results consume within the input', () => {
    fc.assert(
      fc.property(bytes(), (b) => {
        for (const p of [parseGreeting, parseAuth, parseRequest, parseUdpDatagram]) {
          const r = p(b);
          if (r.type === 'ok') expect(r.consumed).toBeLessThanOrEqual(b.length);
        }
      }),
      { numRuns: 3000 },
    );
    // Biased towards the right version bytes, so the deeper branches run too.
    fc.assert(
      fc.property(
        fc.constantFrom(1, 5),
        fc.constantFrom(1, 2, 3),
        fc.constantFrom(1, 3, 4),
        bytes(300),
        (v, c, a, rest) => {
          parseRequest(Buffer.concat([Buffer.from([v, c, 0, a]), rest]));
          parseAuth(Buffer.concat([Buffer.from([v]), rest]));
          parseUdpDatagram(Buffer.concat([Buffer.from([0, 0, 0, a]), rest]));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('UDP datagrams round-trip; fragments are refused', () => {
    const d = buildUdpDatagram('198.51.100.7', 53, Buffer.from('payload'));
    const r = parseUdpDatagram(d);
    expect(
      r.type === 'ok' && [r.value.address.host, r.value.address.port, Buffer.from(r.value.data).toString()],
    ).toEqual(['198.51.100.7', 53, 'payload']);
    const v6 = parseUdpDatagram(buildUdpDatagram('2001:db8::7', 53, Buffer.from('x')));
    expect(v6).toMatchObject({ type: 'ok', value: { address: { kind: 'ipv6', host: '2001:db8::7' } } });
    const frag = Buffer.from(d);
    frag[2] = 1;
    expect(parseUdpDatagram(frag)).toEqual({ type: 'error', reason: 'fragmented' });
    expect(buildReply(REP.SUCCEEDED, '10.8.0.12', 40000)).toEqual(
      Buffer.from([5, 0, 0, 1, 10, 8, 0, 12, 0x9c, 0x40]),
    );
  });

  it('host names: letters, digits, hyphen, underscore and dots; labels 1..63', () => {
    expect(validHostName('web.lab')).toBe(true);
    expect(validHostName('a'.repeat(63) + '.com')).toBe(true);
    expect(validHostName('a'.repeat(64) + '.com')).toBe(false);
    expect(validHostName('a..b')).toBe(false);
    expect(validHostName('a b')).toBe(false);
    expect(validHostName('x\0y')).toBe(false);
    expect(validHostName('')).toBe(false);
  });
});

describe('HTTP proxy request head', () => {
  const parse = (s: string) => parseProxyRequest(Buffer.from(s, 'latin1'));

  it('CONNECT with names, IPv4 and bracketed IPv6; absolute-URI requests with their port and path', () => {
    expect(parse('CONNECT web.lab:443 HTTP/1.1\r\nHost: web.lab:443\r\n\r\n')).toMatchObject({
      type: 'ok',
      request: { connect: true, host: 'web.lab', kind: 'domain', port: 443 },
    });
    expect(parse('CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n')).toMatchObject({
      type: 'ok',
      request: { host: '2001:db8::1', kind: 'ipv6', port: 8443 },
    });
    expect(parse('GET http://web.lab/a?b HTTP/1.0\r\n\r\n')).toMatchObject({
      type: 'ok',
      request: { connect: false, host: 'web.lab', port: 80, path: '/a?b', version: '1.0' },
    });
    expect(parse('GET http://198.51.100.7:8080 HTTP/1.1\r\n\r\n')).toMatchObject({
      type: 'ok',
      request: { host: '198.51.100.7', port: 8080, path: '/' },
    });
    expect(parse('GET http://web.lab/x HTTP/1.1\r\nHost: web.lab\r\n')).toEqual({ type: 'incomplete' });
  });

  it('refuses what a proxy must not take: no port, bad names, https URIs, origin form, header injection', () => {
    const reason = (s: string) => {
      const r = parse(s);
      return r.type === 'error' ? r.reason : r.type;
    };
    expect(reason('CONNECT web.lab HTTP/1.1\r\n\r\n')).toBe('badPort');
    expect(reason('CONNECT web.lab:0 HTTP/1.1\r\n\r\n')).toBe('badTarget');
    expect(reason('CONNECT web.lab:70000 HTTP/1.1\r\n\r\n')).toBe('badTarget');
    expect(reason('CONNECT we b:80 HTTP/1.1\r\n\r\n')).toBe('badRequestLine');
    expect(reason('CONNECT a..b:80 HTTP/1.1\r\n\r\n')).toBe('badTarget');
    expect(reason('GET https://web.lab/ HTTP/1.1\r\n\r\n')).toBe('unsupportedScheme');
    expect(reason('GET /index.html HTTP/1.1\r\n\r\n')).toBe('badTarget');
    expect(reason('GET http://user@web.lab/ HTTP/1.1\r\n\r\n')).toBe('badTarget');
    expect(reason('GET http://web.lab/ HTTP/2.0\r\n\r\n')).toBe('badVersion');
    expect(reason('GET http://web.lab/ HTTP/1.1\r\n folded\r\n\r\n')).toBe('badHeader');
    expect(reason('GET http://web.lab/ HTTP/1.1\r\nBad Name: x\r\n\r\n')).toBe('badHeader');
    expect(reason(`GET http://web.lab/ HTTP/1.1\r\n${'X: y\r\n'.repeat(101)}\r\n`)).toBe('tooManyHeaders');
    expect(reason(`GET http://web.lab/ HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`)).toBe('headTooLarge');
  });

  it('rewrites a forwarded request to origin form without proxy or hop-by-hop headers', () => {
    const r = parse(
      'POST http://web.lab:8080/p HTTP/1.1\r\nHost: evil\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Authorization: Basic Zm9v\r\nContent-Length: 3\r\n\r\n',
    );
    if (r.type !== 'ok') throw new Error('parse');
    expect(rewriteHead(r.request).toString()).toBe(
      'POST /p HTTP/1.1\r\nHost: web.lab:8080\r\nContent-Length: 3\r\nConnection: close\r\n\r\n',
    );
  });

  it('random bytes and random heads never throw', () => {
    fc.assert(
      fc.property(bytes(2000), (b) => {
        parseProxyRequest(b);
        parseProxyRequest(Buffer.concat([b, Buffer.from('\r\n\r\n')]));
      }),
      { numRuns: 3000 },
    );
    const line = fc.stringMatching(/^[ -~]{0,40}$/);
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'CONNECT', 'POST'),
        line,
        fc.array(line, { maxLength: 8 }),
        (m, t, hs) => {
          const r = parseProxyRequest(
            Buffer.from(`${m} ${t} HTTP/1.1\r\n${hs.join('\r\n')}\r\n\r\n`, 'latin1'),
          );
          if (r.type === 'ok' && !r.request.connect) rewriteHead(r.request);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('DNS answers', () => {
  it('reads A and AAAA records of the answer to our query only', () => {
    const q = buildDnsQuery(0x1234, 'web.lab', TYPE_A);
    const a = dnsReply(q, { 'web.lab': { a: ['198.51.100.18', '198.51.100.19'] } })!;
    expect(parseDnsAnswer(a, 0x1234, TYPE_A)).toEqual({
      type: 'ok',
      addresses: ['198.51.100.18', '198.51.100.19'],
      ttl: 30,
    });
    expect(parseDnsAnswer(a, 0x1235, TYPE_A)).toMatchObject({ type: 'ignore', reason: 'id' });
    expect(parseDnsAnswer(a, 0x1234, TYPE_AAAA)).toMatchObject({ type: 'ignore' });
    const q6 = buildDnsQuery(7, 'web.lab', TYPE_AAAA);
    const a6 = dnsReply(q6, { 'web.lab': { aaaa: ['2001:db8:100:1::2'] } })!;
    expect(parseDnsAnswer(a6, 7, TYPE_AAAA)).toEqual({
      type: 'ok',
      addresses: ['2001:db8:100:1::2'],
      ttl: 30,
    });
    expect(parseDnsAnswer(dnsReply(q, {})!, 0x1234, TYPE_A)).toEqual({ type: 'none', rcode: 3 });
    expect(parseDnsAnswer(q, 0x1234, TYPE_A)).toMatchObject({ type: 'ignore', reason: 'not a response' });
  });

  it('compression loops and random bytes neither hang nor throw', () => {
    const q = buildDnsQuery(1, 'x.lab', TYPE_A);
    const loop = Buffer.from(dnsReply(q, { 'x.lab': { a: ['1.2.3.4'] } })!);
    loop.writeUInt16BE(0xc000 | (loop.length - 16), loop.length - 16); // answer name points at itself
    expect(['ok', 'none', 'ignore']).toContain(parseDnsAnswer(loop, 1, TYPE_A).type);
    fc.assert(
      fc.property(bytes(600), (b) => {
        parseDnsAnswer(b, 1, TYPE_A);
        const h = Buffer.concat([Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0]), b]);
        parseDnsAnswer(h, 1, TYPE_A);
        parseDnsAnswer(h, 1, TYPE_AAAA);
      }),
      { numRuns: 5000 },
    );
  });
});

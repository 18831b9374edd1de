#!/usr/bin/env node
/**
 * Container healthcheck of the controller image: GET /readyz (database and Redis reachable) on this
 * container's own port. Exit 0 on 200, 1 otherwise, with the reason on stderr.
 *
 * TLS is verified by pinning: the certificate the server presents must be exactly the one in
 * TLS_CERT_FILE (the controller's own), compared by SHA-256 fingerprint BEFORE the request is
 * written. Chain and name checks are left out on purpose: the server is dialled as 127.0.0.1,
 * which is not the name in a production certificate. Without TLS_CERT_FILE (development, a
 * self-signed pair in the data dir) the pin is `$CORRIDOR_DATA_DIR/tls-cert.pem`.
 *
 * Environment: PORT (default 8443), TLS_CERT_FILE or CORRIDOR_DATA_DIR, HEALTHCHECK_TIMEOUT_MS (4000).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

const port = Number(process.env.PORT ?? '8443');
const certFile =
  process.env.TLS_CERT_FILE ??
  path.join(process.env.CORRIDOR_DATA_DIR ?? '/var/lib/corridor', 'tls-cert.pem');
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? '4000');

function fail(message) {
  process.stderr.write(`healthcheck: ${message}\n`);
  process.exit(1);
}

let pin;
try {
  pin = new X509Certificate(readFileSync(certFile)).fingerprint256;
} catch (err) {
  fail(`cannot read the controller certificate ${certFile}: ${err.message}`);
}

// rejectUnauthorized is off only so the handshake completes; nothing is sent until the
// presented certificate matches the pin.
const socket = tls.connect({
  host: '127.0.0.1',
  port,
  rejectUnauthorized: false,
  ALPNProtocols: ['http/1.1'],
});
const timer = setTimeout(() => {
  socket.destroy();
  fail(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`);
}, timeoutMs);
let response = '';
socket.once('secureConnect', () => {
  const presented = socket.getPeerX509Certificate();
  if (presented?.fingerprint256 !== pin) {
    socket.destroy();
    fail(`the certificate on 127.0.0.1:${port} is not the one in ${certFile}`);
  }
  // write, not end: a half-closed TLS connection makes the server abort the request unanswered.
  // `Connection: close` has the server close the connection once it has answered.
  socket.write('GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
});
socket.setEncoding('latin1');
socket.on('data', (chunk) => {
  if (response.length < 4096) response += chunk;
});
socket.on('error', (err) => {
  clearTimeout(timer);
  fail(`127.0.0.1:${port}: ${err.message}`);
});
socket.on('close', () => {
  clearTimeout(timer);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1];
  if (status === '200') process.exit(0);
  const body = response.split('\r\n\r\n')[1] ?? '';
  fail(`GET /readyz answered ${status ?? 'nothing'} ${body.slice(0, 200)}`);
});

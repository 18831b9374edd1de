/**
 * HTTPS client of the controller's agent API (`@corridor/protocol/control` schemas). TLS is always
 * verified: against a CA file, or against a pinned SHA-256 certificate fingerprint (the controller's
 * self-signed dev certificate: the pinned certificate becomes the only trust anchor and every
 * connection re-checks the fingerprint), or the system roots. Never `rejectUnauthorized: false` on a
 * request that carries data.
 *
 * Errors: `ControllerError` with `kind` — 'unreachable' (connect/TLS/timeout), 'http' (a status code and
 * the controller's `CORRIDOR_ERR_*` code), 'protocol' (a body that does not match the schema).
 */
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Value } from 'typebox/value';
import type { TSchema, Static } from 'typebox';
import {
  AuthorizeResponseSchema,
  HeartbeatResponseSchema,
  NodeEnrollResponseSchema,
  RevocationListSchema,
  SigningKeyListSchema,
  type AuthorizeRequest,
  type AuthorizeResponse,
  type Heartbeat,
  type HeartbeatResponse,
  type NodeEnrollResponse,
  type RevocationList,
  type SigningKeyList,
} from '@corridor/protocol/control';

export type ControllerErrorKind = 'unreachable' | 'http' | 'protocol';

export class ControllerError extends Error {
  override readonly name = 'ControllerError';
  constructor(
    readonly kind: ControllerErrorKind,
    message: string,
    readonly status = 0,
    readonly code = '',
    /** Seconds from a Retry-After header (429/503), or null. */
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
  }
}

export interface ControllerTls {
  readonly caFile: string | null;
  readonly fingerprint: string | null;
}

export interface Credential {
  readonly nodeId: string;
  readonly secret: string;
}

function pemOf(raw: Buffer): string {
  const b64 = raw.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

export class ControllerClient {
  private agent: https.Agent | null = null;
  credential: Credential | null = null;

  constructor(
    readonly baseUrl: URL,
    private readonly tlsOptions: ControllerTls,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Builds the TLS agent (for a pin: fetches the certificate once and checks its fingerprint). */
  private async getAgent(): Promise<https.Agent> {
    if (this.agent) return this.agent;
    const pin = this.tlsOptions.fingerprint;
    let ca: string | undefined;
    if (this.tlsOptions.caFile) {
      try {
        ca = readFileSync(this.tlsOptions.caFile, 'utf8');
      } catch (err) {
        throw new ControllerError(
          'unreachable',
          `cannot read the controller CA file ${this.tlsOptions.caFile}: ${(err as Error).message}`,
        );
      }
    } else if (pin) {
      ca = await this.fetchPinnedCertificate(pin);
    }
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 4,
      ...(ca ? { ca } : {}),
      ...(pin
        ? {
            checkServerIdentity: (host: string, cert: tls.PeerCertificate) => {
              if (cert.fingerprint256 !== pin) {
                return new Error(
                  `controller certificate fingerprint ${cert.fingerprint256} is not the pinned ${pin}`,
                );
              }
              // With a CA file as well, the name must match too; a pinned self-signed cert is the identity.
              return this.tlsOptions.caFile ? tls.checkServerIdentity(host, cert) : undefined;
            },
          }
        : {}),
    });
    return this.agent;
  }

  /**
   * Reads the controller's certificate WITHOUT sending anything over the connection, and accepts it only
   * when its SHA-256 fingerprint is the pinned one; it then becomes the sole trust anchor.
   */
  private fetchPinnedCertificate(pin: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: this.baseUrl.hostname,
        port: Number(this.baseUrl.port || 443),
        servername: /^[\d.]+$|:/.test(this.baseUrl.hostname) ? undefined : this.baseUrl.hostname,
        rejectUnauthorized: false, // only to read the certificate; nothing is sent on this connection
      });
      const timer = setTimeout(() => socket.destroy(new Error('TLS handshake timed out')), this.timeoutMs);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const cert = socket.getPeerCertificate(false);
        socket.destroy();
        if (!cert?.raw) return reject(new ControllerError('unreachable', 'controller sent no certificate'));
        const x509 = new X509Certificate(cert.raw);
        if (x509.fingerprint256 !== pin) {
          return reject(
            new ControllerError(
              'unreachable',
              `controller certificate fingerprint ${x509.fingerprint256} does not match the pinned ${pin} (hint: check --controller-fingerprint)`,
            ),
          );
        }
        resolve(pemOf(cert.raw));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new ControllerError(
            'unreachable',
            `cannot reach the controller at ${this.baseUrl.host}: ${err.message}`,
          ),
        );
      });
    });
  }

  /** Sends one JSON request and validates the answer against `schema`. */
  async request<S extends TSchema>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    body?: unknown,
    options: { timeoutMs?: number; signal?: AbortSignal; auth?: boolean } = {},
  ): Promise<Static<S>> {
    const agent = await this.getAgent();
    const url = new URL(path, this.baseUrl);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (options.auth !== false && this.credential) {
      headers.authorization = `Node ${this.credential.nodeId}:${this.credential.secret}`;
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const text = await new Promise<{ status: number; text: string; retryAfter: string | undefined }>(
      (resolve, reject) => {
        const req = https.request(url, { method, agent, headers, signal: options.signal }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 64 << 20) req.destroy(new Error('response too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            clearTimeout(deadline);
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              retryAfter: res.headers['retry-after'],
            });
          });
          res.on('error', (err) =>
            reject(new ControllerError('unreachable', `${method} ${url.pathname}: ${err.message}`)),
          );
        });
        // A deadline for the whole exchange, not an idle timer: an answer trickling in a byte at a
        // time would otherwise hold a heartbeat (and the last one at shutdown) forever.
        const deadline = setTimeout(
          () => req.destroy(new Error(`no complete answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
        req.on('close', () => clearTimeout(deadline));
        req.on('error', (err) =>
          reject(new ControllerError('unreachable', `${method} ${url.pathname}: ${err.message}`)),
        );
        req.end(payload);
      },
    );
    let json: unknown;
    try {
      json = text.text === '' ? undefined : JSON.parse(text.text);
    } catch {
      throw new ControllerError(
        text.status >= 400 ? 'http' : 'protocol',
        `${method} ${url.pathname}: status ${text.status}, not JSON`,
        text.status,
      );
    }
    if (text.status >= 400) {
      const e = json as { code?: unknown; message?: unknown } | undefined;
      const retry = text.retryAfter === undefined ? NaN : Number(text.retryAfter);
      throw new ControllerError(
        'http',
        `${method} ${url.pathname}: ${text.status} ${typeof e?.code === 'string' ? e.code : ''} ${typeof e?.message === 'string' ? e.message : ''}`.trim(),
        text.status,
        typeof e?.code === 'string' ? e.code : '',
        Number.isFinite(retry) && retry >= 0 ? Math.min(retry, 300) : null,
      );
    }
    if (!Value.Check(schema, json)) {
      throw new ControllerError(
        'protocol',
        `${method} ${url.pathname}: the answer does not match the agent API schema`,
        text.status,
      );
    }
    return json as Static<S>;
  }

  enroll(enrollmentToken: string, publicKey: string, agentVersion: string): Promise<NodeEnrollResponse> {
    return this.request(
      'POST',
      '/v1/agent/enroll',
      NodeEnrollResponseSchema,
      { enrollmentToken, publicKey, agentVersion },
      { auth: false },
    );
  }

  heartbeat(hb: Heartbeat, timeoutMs?: number): Promise<HeartbeatResponse> {
    return this.request(
      'POST',
      '/v1/agent/heartbeat',
      HeartbeatResponseSchema,
      hb,
      timeoutMs ? { timeoutMs } : {},
    );
  }

  signingKeys(): Promise<SigningKeyList> {
    return this.request('GET', '/v1/agent/signing-keys', SigningKeyListSchema);
  }

  revocations(since: string | null, waitSeconds: number, signal?: AbortSignal): Promise<RevocationList> {
    const q = new URLSearchParams();
    if (since !== null) q.set('since', since);
    if (waitSeconds > 0 && since !== null) q.set('wait', String(waitSeconds));
    const qs = q.toString();
    return this.request(
      'GET',
      `/v1/agent/revocations${qs ? `?${qs}` : ''}`,
      RevocationListSchema,
      undefined,
      {
        timeoutMs: this.timeoutMs + waitSeconds * 1000,
        signal,
      },
    );
  }

  authorize(req: AuthorizeRequest, timeoutMs = 3000): Promise<AuthorizeResponse> {
    return this.request('POST', '/v1/agent/authorize', AuthorizeResponseSchema, req, { timeoutMs });
  }

  close(): void {
    this.agent?.destroy();
    this.agent = null;
  }
}

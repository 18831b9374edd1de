/** `vpnctl login`: picks the controller and its trust, asks for credentials, stores the tokens. */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApiClient, credentialsFrom, passwordLogin } from '../../api/client.js';
import { networkError } from '../../api/errors.js';
import { httpRequest } from '../../api/http.js';
import {
  normalizeFingerprint,
  probeCertificate,
  sameFingerprint,
  type PresentedCertificate,
} from '../../api/tls.js';
import { bool, str, type Command } from '../../command.js';
import type { CliContext } from '../../context.js';
import {
  normalizeServerUrl,
  serverHost,
  serverPort,
  type CliConfig,
  type Trust,
} from '../../config/store.js';
import { CLI_ERROR_CODES, UsageError, UserError } from '../../errors.js';
import { writeJson } from '../../output/format.js';
import { readAll } from '../../output/prompt.js';
import { spec } from './command.js';

async function readCaFile(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw new UserError(
      CLI_ERROR_CODES.INPUT,
      `cannot read the CA file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'give the path of a PEM file with the CA certificate(s) that signed the controller certificate',
    );
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    if (blocks.length === 0) throw new Error('no certificate');
    for (const b of blocks) new X509Certificate(b);
  } catch {
    throw new UserError(
      CLI_ERROR_CODES.INPUT,
      `${file} does not contain a PEM certificate`,
      'the file must hold one or more "-----BEGIN CERTIFICATE-----" blocks',
    );
  }
  return blocks.join('\n') + '\n';
}

async function presented(server: string): Promise<PresentedCertificate[]> {
  try {
    return await probeCertificate(serverHost(server), serverPort(server));
  } catch (e) {
    throw networkError(e, server);
  }
}

function certLines(c: PresentedCertificate): string {
  return [
    `  SHA-256      ${c.fingerprint256}`,
    `  subject      ${c.subject}`,
    `  issuer       ${c.selfSigned ? '(self-signed)' : c.issuer}`,
    `  valid until  ${c.validTo}`,
  ].join('\n');
}

function sameTrust(a: Trust | undefined, b: Trust): boolean {
  if (a === undefined || a.mode !== b.mode) return false;
  if (a.mode === 'pin' && b.mode === 'pin') return sameFingerprint(a.fingerprint256, b.fingerprint256);
  if (a.mode === 'ca' && b.mode === 'ca') return a.caPem === b.caPem;
  return true;
}

/** Works out the trust for `server` from the flags (or the stored config), confirming new certificates. */
async function resolveTrust(
  ctx: CliContext,
  server: string,
  caFile: string | undefined,
  pinText: string | undefined,
  stored: CliConfig | undefined,
  skipConfirm: boolean,
): Promise<Trust> {
  const previous = stored?.server === server ? stored.trust : undefined;
  let trust: Trust;
  let shown: PresentedCertificate | undefined;
  let reason = '';
  if (pinText !== undefined) {
    const fp = normalizeFingerprint(pinText);
    if (fp === null) {
      throw new UsageError(
        `--pin must be a SHA-256 fingerprint: 64 hex digits, colons allowed (AB:CD:...), got '${pinText}'`,
      );
    }
    if (previous?.mode === 'pin' && sameFingerprint(previous.fingerprint256, fp)) return previous;
    const chain = await presented(server);
    const match = chain.find((c) => sameFingerprint(c.fingerprint256, fp));
    if (!match) {
      throw new UserError(
        CLI_ERROR_CODES.TLS_CERT_MISMATCH,
        `certificate mismatch: ${server} presents SHA-256 ${chain[0]?.fingerprint256 ?? '(none)'}, not the pinned ${fp}`,
        'check the fingerprint with the controller operator; a different certificate may mean someone is intercepting the connection',
        { details: { presented: chain[0]?.fingerprint256 ?? null, pinned: fp } },
      );
    }
    trust = { mode: 'pin', fingerprint256: fp, certPem: match.pem };
    shown = match;
    reason = 'It matches the fingerprint you pinned.';
  } else if (caFile !== undefined) {
    trust = { mode: 'ca', caPem: await readCaFile(caFile), file: caFile };
    if (sameTrust(previous, trust)) return previous!;
    shown = (await presented(server))[0];
    reason = `It must be signed by the CA in ${caFile} (checked when logging in).`;
  } else {
    return previous ?? { mode: 'system' };
  }
  if (ctx.interactive && !skipConfirm && !sameTrust(previous, trust) && shown) {
    ctx.say(`The controller ${server} presents this certificate:\n${certLines(shown)}\n${reason}`);
    if (!(await ctx.prompt.confirm('Trust this controller?'))) {
      throw new UserError(
        CLI_ERROR_CODES.TRUST_DECLINED,
        'not trusted: nothing was saved',
        'compare the fingerprint with the one your operator gave you',
      );
    }
  }
  return trust;
}

export const loginCommand: Command = {
  spec,
  async run(args, ctx) {
    const caFile = str(args, 'ca');
    const pin = str(args, 'pin');
    if (caFile !== undefined && pin !== undefined)
      throw new UsageError('give either --ca or --pin, not both');
    if (pin !== undefined && normalizeFingerprint(pin) === null) {
      throw new UsageError(
        `--pin must be a SHA-256 fingerprint: 64 hex digits, colons allowed (AB:CD:...), got '${pin}'`,
      );
    }
    const stored = await ctx.store.readConfig();

    let serverText = str(args, 'server') ?? stored?.server;
    if (serverText === undefined) {
      if (!ctx.interactive) {
        throw new UserError(
          CLI_ERROR_CODES.INPUT,
          'no controller URL given',
          'pass --server https://your-controller',
        );
      }
      serverText = await ctx.prompt.line('Controller URL: ');
    }
    const normalized = normalizeServerUrl(serverText);
    if (!normalized.ok) {
      if (str(args, 'server') !== undefined) throw new UsageError(`--server: ${normalized.error}`);
      throw new UserError(CLI_ERROR_CODES.INPUT, normalized.error, 'pass --server https://your-controller');
    }
    const server = normalized.url;
    const trust = await resolveTrust(ctx, server, caFile, pin, stored, bool(args, 'yes'));

    let email = str(args, 'email');
    if (email === undefined) {
      if (!ctx.interactive) {
        throw new UserError(CLI_ERROR_CODES.INPUT, 'no e-mail given', 'pass --email you@example.com');
      }
      email = await ctx.prompt.line('E-mail: ');
    }
    let password: string;
    if (bool(args, 'password-stdin')) {
      password = await readAll(ctx.stdin);
    } else if (ctx.interactive) {
      password = await ctx.prompt.secret('Password: ');
    } else {
      throw new UserError(
        CLI_ERROR_CODES.INPUT,
        'no password: vpnctl only prompts for it on a terminal',
        'pipe it in with --password-stdin, e.g. printf %s "$PASSWORD" | vpnctl login --email E --password-stdin',
      );
    }
    if (password.length === 0)
      throw new UserError(CLI_ERROR_CODES.INPUT, 'the password is empty', 'type your account password');

    const config: CliConfig = { version: 1, server, trust };
    const before = Date.now();
    const tokens = await passwordLogin(config, email, password);
    const previousCredentials = await ctx.store.readCredentials().catch(() => undefined);
    await ctx.store.writeConfig(config);
    await ctx.store.writeCredentials(credentialsFrom(server, tokens, before));
    // The old login's refresh token is no longer needed: revoke it (best effort).
    if (previousCredentials && previousCredentials.refreshToken !== tokens.refreshToken) {
      const oldConfig = previousCredentials.server === server ? config : stored;
      if (oldConfig) {
        const old = new ApiClient(ctx.store, oldConfig);
        await revokeQuietly(old, previousCredentials.server, previousCredentials.refreshToken);
      }
    }
    const fingerprint = trust.mode === 'pin' ? trust.fingerprint256 : null;
    if (bool(args, 'json')) {
      writeJson(ctx.stdout, {
        server,
        user: tokens.user,
        trust: { mode: trust.mode, fingerprint256: fingerprint },
      });
    } else {
      ctx.say(
        `Logged in to ${server} as ${tokens.user.email}${tokens.user.role === 'admin' ? ' (admin)' : ''}.`,
      );
    }
    return 0;
  },
};

async function revokeQuietly(api: ApiClient, server: string, refreshToken: string): Promise<void> {
  try {
    await httpRequest({
      server,
      trust: api.config.trust,
      method: 'POST',
      path: '/v1/auth/logout',
      body: { refreshToken },
      timeoutMs: 5_000,
    });
  } catch {
    // best effort: the old token expires on its own
  }
}

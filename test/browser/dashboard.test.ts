/**
 * The admin dashboard in a real browser (Debian's Chromium through playwright-core) against the real
 * controller process: log in as admin, see a node online and a live session, disable the user and
 * watch the session disappear (the stand-in node ends it on the revocation feed), create a node and
 * see its token once, check that a non-admin is refused and that the CSP blocks injected script,
 * with keyboard-only steps and phone-width layouts. Screenshots of every view are saved under
 * CORRIDOR_TEST_ARTIFACTS_DIR (default test/browser/artifacts/).
 */
/// <reference lib="dom" />
// (the page.evaluate callbacks run in the browser and use DOM types)
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  bearer,
  CHROMIUM,
  openBrowser,
  ROOT,
  StandInNode,
  startController,
  type Controller,
} from './harness.js';

const ARTIFACTS = path.resolve(
  process.env.CORRIDOR_TEST_ARTIFACTS_DIR ?? path.join(ROOT, 'test/browser/artifacts'),
);
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(
    `${CHROMIUM} not found: skipping the browser tests (apt-get install -y --no-install-recommends chromium)`,
  );

const PHONE = { width: 390, height: 844 };
const XSS_DEVICE = '<img src=x onerror="window.__xss=1">';
const XSS_REASON = '<script>window.__xss=2</script> abuse';

describe.skipIf(!haveChromium)('admin dashboard in Chromium', () => {
  let ctl: Controller;
  let node: StandInNode;
  let browser: Awaited<ReturnType<typeof openBrowser>>;
  let page: Page;
  let adminToken: string;
  let aliceDevice: string;
  const alice = { email: 'alice@example.com', password: 'alice-password-1', id: '' };
  const bob = { email: 'bob@example.com', password: 'bob-password-12', id: '', token: '' };
  const pageErrors: string[] = [];

  async function shot(name: string, p: Page = page): Promise<void> {
    await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  }
  /** No horizontal scrolling: everything fits the viewport's width. */
  async function fitsWidth(p: Page = page): Promise<void> {
    const [scroll, width] = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    expect(scroll, `page is ${scroll}px wide in a ${width}px viewport`).toBeLessThanOrEqual(width);
  }
  async function tabTo(text: string, max = 40): Promise<void> {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab');
      const label = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
      if (label === text) return;
    }
    throw new Error(`could not reach "${text}" with the Tab key`);
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    ctl = await startController();
    const api = ctl.api;
    adminToken = (await api.login(ADMIN.email, ADMIN.password)).token;
    for (const u of [alice, bob]) {
      const created = await api.ok<{ id: string }>(
        'POST',
        '/v1/admin/users',
        { email: u.email, password: u.password },
        bearer(adminToken),
      );
      u.id = created.id;
    }
    bob.token = (await api.login(bob.email, bob.password)).token;
    const made = await api.ok<{ enrollmentToken: string }>(
      'POST',
      '/v1/admin/nodes',
      {
        id: 'fra-1',
        region: 'eu-central',
        country: 'DE',
        city: 'Frankfurt',
        endpoint: { host: '203.0.113.10', udpPort: 51820, tcpPort: 443 },
      },
      bearer(adminToken),
    );
    node = await StandInNode.enroll(api, made.enrollmentToken, 'fra-1');
    await node.beat();
    // Alice: a device with a hostile name, a ticket for fra-1, and a live session on it.
    const aliceToken = (await api.login(alice.email, alice.password)).token;
    const { formatPublicKey, generateX25519KeyPair } = await import('@corridor/protocol');
    const device = await api.ok<{ id: string }>(
      'POST',
      '/v1/devices',
      { name: XSS_DEVICE, publicKey: formatPublicKey('x25519pub', generateX25519KeyPair().publicKey) },
      bearer(aliceToken),
    );
    aliceDevice = device.id;
    const ticket = await api.ok<{ ticketId: string }>(
      'POST',
      '/v1/nodes/fra-1/tickets',
      { deviceId: device.id },
      bearer(aliceToken),
    );
    node.admit({ ticketId: ticket.ticketId, deviceId: device.id, userId: alice.id });
    await node.beat();
    node.start(1_000);

    browser = await openBrowser(ctl.spki);
    page = await browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // Record every CSP violation the page reports, from the first script on.
    await browser.context.addInitScript(() => {
      const w = window as unknown as { __violations: string[] };
      w.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        w.__violations.push(`${e.violatedDirective}`),
      );
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    await ctl?.close();
  });

  it('logs the admin in with the keyboard and shows the node online and the live session', async () => {
    await page.goto(`${ctl.base}/admin`);
    await page.waitForURL(/\/admin\/login\?next=%2Fadmin$/);
    await page.getByLabel('E-mail').waitFor();
    await shot('01-login');
    // Keyboard only: the e-mail field has the focus; Tab to the password; Enter submits.
    await page.keyboard.type(ADMIN.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN.password);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${ctl.base}/admin`);
    await expect
      .poll(() => page.getByTestId('nodes-online').textContent(), { timeout: 15_000 })
      .toBe('1 / 1');
    await expect.poll(() => page.getByTestId('sessions-active').textContent(), { timeout: 15_000 }).toBe('1');
    // Both charts are drawn (uPlot canvases) and the regions table lists the node.
    expect(await page.locator('.chart-plot canvas').count()).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.getByRole('link', { name: 'eu-central' }).count()).toBe(1);
    const cookies = await browser.context.cookies();
    const session = cookies.find((c) => c.name === '__Host-corridor_admin');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    expect(await page.evaluate(() => document.cookie)).toBe(''); // HttpOnly: not readable by script
    await shot('02-overview');
  });

  it('refreshes live data without reloading the page', async () => {
    await page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 42));
    const before = await page.getByTestId('live-status').textContent();
    await expect
      .poll(() => page.getByTestId('live-status').textContent(), { timeout: 20_000 })
      .not.toBe(before);
    expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(42);
  });

  it('finds the user, shows the live session, disables the user by keyboard, and the session disappears', async () => {
    await tabTo('Users');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/users$/);
    await page.getByLabel('E-mail contains').fill('alice');
    await page.getByLabel('E-mail contains').press('Enter');
    await expect.poll(() => page.locator('table.data tbody tr').count(), { timeout: 10_000 }).toBe(1);
    await page.getByRole('link', { name: alice.email }).waitFor();
    await shot('03-users');
    await page.getByRole('link', { name: alice.email }).click();
    await page.waitForURL(`${ctl.base}/admin/users/${alice.id}`);
    const live = page.getByTestId('user-live-sessions');
    await expect.poll(() => live.getByRole('link', { name: 'fra-1' }).count(), { timeout: 15_000 }).toBe(1);
    // The device's hostile name is shown as text, never parsed.
    await expect.poll(() => page.getByText(XSS_DEVICE, { exact: true }).count()).toBeGreaterThan(0);
    await shot('04-user-detail');

    await page.getByRole('button', { name: 'Disable user' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    // Cancel has the focus: Enter alone would not disable anyone.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await dialog.getByLabel(/Reason/).fill(XSS_REASON);
    await shot('05-disable-confirm');
    await dialog.getByRole('button', { name: 'Disable user' }).focus();
    await page.keyboard.press('Enter');
    // At once: the account shows as disabled.
    await expect
      .poll(() => page.getByTestId('user-status').textContent(), { timeout: 5_000 })
      .toMatch(/^disabled/);
    // Then the node drops the session (revocation feed) and the page follows without a reload.
    await expect.poll(() => live.textContent(), { timeout: 20_000 }).toContain('No live sessions.');
    expect(node.liveCount).toBe(0);
    await shot('06-user-disabled');
  });

  it('lists the ended session in the sessions view, with duration, bytes and end reason', async () => {
    await page.getByRole('link', { name: 'Sessions', exact: true }).click();
    await page.waitForURL(/\/admin\/sessions/);
    await expect
      .poll(() => page.getByTestId('sessions-table').textContent(), { timeout: 10_000 })
      .toContain('No live sessions.');
    await page.getByLabel('State').selectOption('ended');
    await page.getByRole('button', { name: 'Filter' }).click();
    const row = page.getByTestId('sessions-table').locator('tbody tr').first();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain(alice.email);
    const text = (await row.textContent()) ?? '';
    expect(text).toContain('fra-1');
    expect(text).toMatch(/ended/);
    expect(text).toMatch(/kB|MB/);
    await shot('07-sessions');
  });

  it('enables the user again, then revokes a device after confirmation and its new session ends', async () => {
    await page.goto(`${ctl.base}/admin/users/${alice.id}`);
    const dialog = page.getByRole('dialog');
    await page.getByRole('button', { name: 'Enable user' }).click();
    await dialog.getByRole('button', { name: 'Enable user' }).click();
    await expect.poll(() => page.getByTestId('user-status').textContent(), { timeout: 5_000 }).toBe('active');
    // Alice connects again with the same device: a new ticket, admitted by the node.
    const aliceToken = (await ctl.api.login(alice.email, alice.password)).token;
    const t = await ctl.api.ok<{ ticketId: string }>(
      'POST',
      '/v1/nodes/fra-1/tickets',
      { deviceId: aliceDevice },
      bearer(aliceToken),
    );
    node.admit({ ticketId: t.ticketId, deviceId: aliceDevice, userId: alice.id });
    const live = page.getByTestId('user-live-sessions');
    await expect.poll(() => live.getByRole('link', { name: 'fra-1' }).count(), { timeout: 15_000 }).toBe(1);
    await page.getByRole('button', { name: `Revoke ${XSS_DEVICE}` }).click();
    await dialog.waitFor();
    await shot('08-revoke-device-confirm');
    await dialog.getByRole('button', { name: 'Revoke device' }).click();
    const devices = page.getByTestId('user-devices');
    await expect.poll(() => devices.textContent(), { timeout: 5_000 }).toContain('revoked');
    expect(await page.getByRole('button', { name: `Revoke ${XSS_DEVICE}` }).count()).toBe(0);
    await expect.poll(() => live.textContent(), { timeout: 20_000 }).toContain('No live sessions.');
    await shot('09-device-revoked');
  });

  it('creates a node and shows its enrollment token once', async () => {
    await page.getByRole('link', { name: 'Nodes', exact: true }).click();
    await page.waitForURL(/\/admin\/nodes$/);
    await page.getByText('Create a node').click();
    await page.getByLabel('Node id').fill('ams-1');
    await page.getByLabel('Region').fill('eu-west');
    await page.getByLabel('Country (ISO)').fill('NL');
    await page.getByLabel('City').fill('<b>Amsterdam</b>');
    await page.getByLabel('Public host or IP').fill('203.0.113.20');
    await page.getByRole('button', { name: 'Create node' }).click();
    const token = page.getByTestId('enrollment-token');
    await token.waitFor();
    expect(await token.inputValue()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await expect.poll(() => page.getByRole('link', { name: 'ams-1' }).count()).toBe(1);
    await shot('10-nodes-token');
    await page.getByRole('button', { name: 'Done, hide it' }).click();
    expect(await token.count()).toBe(0);
    await page.reload();
    await page.getByRole('link', { name: 'ams-1' }).waitFor();
    expect(await page.getByTestId('enrollment-token').count()).toBe(0);
    expect(await page.getByText('<b>Amsterdam</b>', { exact: false }).count()).toBeGreaterThan(0);
    await shot('11-nodes');

    await page.getByRole('link', { name: 'fra-1' }).click();
    await page.waitForURL(/\/admin\/nodes\/fra-1$/);
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 10_000 }).toBe('online');
    expect(await page.locator('.chart-plot canvas').count()).toBeGreaterThanOrEqual(2);
    await shot('12-node-detail');
  });

  it('shows the disable in the audit log with its reason as plain text', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL(/\/admin\/audit$/);
    await page.getByLabel('Action').fill('user.disable');
    await page.getByRole('button', { name: 'Filter' }).click();
    const row = page.getByTestId('audit-table').locator('tbody tr').first();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain(XSS_REASON);
    const text = (await row.textContent()) ?? '';
    expect(text).toContain(ADMIN.email);
    expect(text).toContain(alice.email);
    expect(text).toContain('127.0.0.1');
    await shot('13-audit');
    // Nothing hostile ran anywhere so far, and normal use tripped no CSP rule.
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('img[src="x"], table script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations)).toEqual(
      [],
    );
    expect(pageErrors).toEqual([]);
  });

  it('blocks injected inline script, inline handlers, eval and HTML-string sinks (CSP + Trusted Types)', async () => {
    // The attempts run in a page task of their own: code evaluated directly through the DevTools
    // protocol is exempt from the eval rule, page code is not.
    const r = await page.evaluate(async () => {
      const w = window as unknown as { __injected?: number; __violations: string[] };
      w.__violations.length = 0;
      const attempts: Record<string, string> = {};
      const attempt = (name: string, fn: () => void) => {
        try {
          fn();
          attempts[name] = 'no exception';
        } catch (e) {
          attempts[name] = (e as Error).name;
        }
      };
      await new Promise<void>((done) =>
        setTimeout(() => {
          attempt('inline script element', () => {
            const s = document.createElement('script');
            s.appendChild(document.createTextNode('window.__injected = 1'));
            document.body.appendChild(s);
          });
          attempt('inline event handler', () => {
            const b = document.createElement('button');
            b.setAttribute('onclick', 'window.__injected = 2');
            document.body.appendChild(b);
            b.click();
          });
          attempt('eval', () => (0, eval)('window.__injected = 3'));
          attempt('new Function', () => new Function('window.__injected = 4')());
          attempt('HTML string sink', () =>
            document.body.insertAdjacentHTML('beforeend', '<img src="x" onerror="window.__injected = 5">'),
          );
          done();
        }, 0),
      );
      await new Promise((res) => setTimeout(res, 500));
      return { injected: w.__injected ?? null, violations: [...w.__violations], attempts };
    });
    // Nothing ran. Trusted Types (part of the CSP) stopped every DOM-built attempt first.
    expect(r.injected, JSON.stringify(r)).toBeNull();
    expect(r.attempts['eval']).toBe('EvalError');
    expect(r.attempts['new Function']).toBe('EvalError');
    expect(r.attempts['inline event handler']).toBe('TypeError');
    expect(r.attempts['HTML string sink']).toBe('TypeError');
    expect(r.violations.length, JSON.stringify(r)).toBeGreaterThanOrEqual(4);
    expect(new Set(r.violations), JSON.stringify(r)).toEqual(new Set(['require-trusted-types-for']));
    pageErrors.length = 0;
  });

  it('blocks script injected into the page markup itself (script-src without unsafe-inline)', async () => {
    // Markup injection in the response (a template bug, a tampering proxy): the page arrives with
    // the controller's real headers and an inline script and handler in its body.
    const p = await browser.context.newPage();
    const cookie = (await browser.context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    await p.route(`${ctl.base}/admin/users`, async (route) => {
      const res = await ctl.api.call<string>('GET', '/admin/users', undefined, { cookie });
      expect(res.headers['content-security-policy']).toBeTruthy();
      const headers = Object.fromEntries(
        Object.entries(res.headers).filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
      await route.fulfill({
        status: res.status,
        headers,
        body: res.body.replace(
          '<body>',
          '<body><script>window.__injected = 7</script><img src="/favicon.ico" onerror="window.__injected = 8">',
        ),
      });
    });
    await p.goto(`${ctl.base}/admin/users`);
    await p.getByRole('heading', { name: 'Users' }).waitFor();
    await p.waitForTimeout(300);
    const r = await p.evaluate(() => {
      const w = window as unknown as { __injected?: number; __violations: string[] };
      return { injected: w.__injected ?? null, violations: w.__violations };
    });
    expect(r.injected, JSON.stringify(r)).toBeNull();
    expect(r.violations).toEqual(expect.arrayContaining(['script-src-elem', 'script-src-attr']));
    await p.close();
  });

  it('lays every view out at phone width without sideways scrolling', async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize(PHONE);
    for (const [name, url] of [
      ['14-phone-overview', '/admin'],
      ['15-phone-users', `/admin/users/${alice.id}`],
      ['16-phone-nodes', '/admin/nodes'],
      ['17-phone-sessions', '/admin/sessions?state=all'],
      ['18-phone-audit', '/admin/audit'],
    ] as const) {
      await phone.goto(`${ctl.base}${url}`);
      await phone.locator('main h1').first().waitFor();
      await phone.locator('table.data:visible').first().waitFor();
      await phone.waitForTimeout(300);
      await fitsWidth(phone);
      await shot(name, phone);
    }
    await phone.close();
  });

  it('labels UTC days and the UTC "today" as such for an admin in another time zone', async () => {
    // New York: UTC midnight is 19:00 or 20:00 the day before, local time.
    const ny = await openBrowser(ctl.spki, undefined, 'America/New_York');
    try {
      await ny.context.addCookies(
        (await browser.context.cookies()).filter((c) => c.name === '__Host-corridor_admin'),
      );
      const p = await ny.context.newPage();
      await p.goto(`${ctl.base}/admin`);
      const week = p.locator('figure.chart').nth(1);
      await week.locator('canvas').first().waitFor();
      await week.getByText('Data table').click();
      const utcDay = (d: Date) =>
        new Intl.DateTimeFormat('en-US', {
          weekday: 'short',
          day: 'numeric',
          month: 'short',
          timeZone: 'UTC',
        }).format(d);
      const now = new Date();
      const labels = await week.locator('tbody tr td:first-child').allTextContents();
      expect(labels).toHaveLength(7);
      expect(labels[6]).toBe(utcDay(now));
      expect(labels[0]).toBe(utcDay(new Date(now.getTime() - 6 * 86_400_000)));
      expect(await p.getByText('Users active today (UTC)').count()).toBe(1);
      // The 24-hour series is an estimate from sessions: its caption says so, the daily one's not.
      expect(await p.getByTestId('chart-caption').allTextContents()).toEqual([
        'All nodes and the 5 busiest, per hour (estimate)',
        'All nodes and the 5 busiest, per day',
      ]);
      await shot('21-overview-new-york', p);
    } finally {
      await ny.close();
    }
  });

  it('refuses a non-admin: no session at log-in, 403 page and 403 from the admin API for a non-admin token', async () => {
    const other = await openBrowser(ctl.spki);
    try {
      const p = await other.context.newPage();
      await p.goto(`${ctl.base}/admin/login`);
      await p.getByLabel('E-mail').fill(bob.email);
      await p.getByLabel('Password').fill(bob.password);
      await p.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => p.getByRole('alert').textContent()).toContain('not an administrator');
      expect((await other.context.cookies()).filter((c) => c.name === '__Host-corridor_admin')).toEqual([]);
      await shot('19-non-admin-login', p);
      await p.goto(`${ctl.base}/admin/users`);
      await p.waitForURL(/\/admin\/login/);
      // A non-admin's own bearer token on a dashboard page: 403.
      await p.setExtraHTTPHeaders(bearer(bob.token));
      const res = await p.goto(`${ctl.base}/admin/nodes`);
      expect(res?.status()).toBe(403);
      expect(await p.locator('h1').textContent()).toContain('administrators only');
      await shot('20-forbidden', p);
      // The page's own fetch to the admin API has no session: refused.
      const api = await p.evaluate(
        async () => (await fetch('/v1/admin/users', { headers: { authorization: '' } })).status,
      );
      expect([401, 403]).toContain(api);
    } finally {
      await other.close();
    }
    const direct = await ctl.api.call('GET', '/v1/admin/overview', undefined, bearer(bob.token));
    expect(direct.status).toBe(403);
  });

  it('recovers a second tab after the admin logged in again in another tab', async () => {
    const a = await browser.context.newPage();
    await a.goto(`${ctl.base}/admin/sessions?state=live`);
    await expect.poll(() => a.getByTestId('live-status').textContent(), { timeout: 15_000 }).toMatch(/^Live/);
    await a.evaluate(() => ((window as unknown as { __tabA: number }).__tabA = 1));
    // Tab B: the admin logs in again (e.g. after the session ended there); the browser's cookie now
    // names a new session, with a new CSRF token.
    const b = await browser.context.newPage();
    await b.goto(`${ctl.base}/admin/login`);
    const status = await b.evaluate(
      async ([email, password]) =>
        (
          await fetch('/admin/session', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email, password }),
          })
        ).status,
      [ADMIN.email, ADMIN.password] as const,
    );
    expect(status).toBe(200);
    // Tab A picks up the new session by itself (it reloads), instead of failing every request.
    await expect
      .poll(() => a.evaluate(() => (window as unknown as { __tabA?: number }).__tabA ?? null), {
        timeout: 20_000,
      })
      .toBeNull();
    await expect
      .poll(() => a.getByTestId('live-status').textContent(), { timeout: 15_000 })
      .toMatch(/^Live ·/);
    await a.close();
    await b.close();
  });

  it('logs out: the cookie is gone and pages go back to the log-in', async () => {
    await page.goto(`${ctl.base}/admin`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/admin\/login$/);
    expect((await browser.context.cookies()).filter((c) => c.name === '__Host-corridor_admin')).toEqual([]);
    await page.goto(`${ctl.base}/admin/audit`);
    await page.waitForURL(/\/admin\/login\?next=/);
  });
});

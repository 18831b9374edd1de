/** Dashboard session records: lifetimes, what the store holds, CSRF comparison, cookie parsing. */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import {
  ABSOLUTE_MS,
  DashboardSessions,
  IDLE_MS,
  clearedSessionCookie,
  csrfMatches,
  readSessionCookie,
  sessionCookie,
} from '../../src/dashboard/session.js';

function setup() {
  let now = 1_800_000_000_000;
  const clock = () => now;
  const store = new MemoryStore(clock);
  const sessions = new DashboardSessions(store, clock);
  return { store, sessions, advance: (ms: number) => (now += ms) };
}

const user = { id: '6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b', email: 'admin@example.com' };

describe('dashboard sessions', () => {
  it('ends after IDLE_MS without use', async () => {
    const { sessions, advance } = setup();
    const { id } = await sessions.create(user);
    advance(IDLE_MS - 1_000);
    expect(await sessions.get(id)).not.toBeNull();
    advance(IDLE_MS - 1_000);
    expect(await sessions.get(id)).not.toBeNull(); // used in between: the idle timer restarted
    advance(IDLE_MS + 1);
    expect(await sessions.get(id)).toBeNull();
  });

  it('ends ABSOLUTE_MS after log-in however busy it is', async () => {
    const { sessions, advance } = setup();
    const { id } = await sessions.create(user);
    for (let t = 0; t < ABSOLUTE_MS - 10 * 60_000; t += 10 * 60_000) {
      advance(10 * 60_000);
      expect(await sessions.get(id)).not.toBeNull();
    }
    advance(10 * 60_000);
    expect(await sessions.get(id)).toBeNull();
  });

  it('stores a hash of the id, never the id; destroy ends it; every login gets new id and CSRF token', async () => {
    const { store, sessions } = setup();
    const a = await sessions.create(user);
    const b = await sessions.create(user);
    expect(a.id).not.toBe(b.id);
    expect(a.session.csrfToken).not.toBe(b.session.csrfToken);
    expect(await store.get(`dashboard:session:${a.id}`)).toBeNull();
    const raw = JSON.stringify([...(store as unknown as { data: Map<string, unknown> }).data.entries()]);
    expect(raw).not.toContain(a.id);
    await sessions.destroy(a.id);
    expect(await sessions.get(a.id)).toBeNull();
    expect(await sessions.get(b.id)).not.toBeNull();
  });

  it('compares CSRF tokens exactly and refuses missing, short or repeated ones', async () => {
    const { sessions } = setup();
    const { session } = await sessions.create(user);
    expect(csrfMatches(session, session.csrfToken)).toBe(true);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, '')).toBe(false);
    expect(csrfMatches(session, session.csrfToken.slice(1))).toBe(false);
    expect(csrfMatches(session, [session.csrfToken, session.csrfToken])).toBe(false);
    const flipped = (session.csrfToken[0] === 'A' ? 'B' : 'A') + session.csrfToken.slice(1);
    expect(csrfMatches(session, flipped)).toBe(false);
  });

  it('reads only well-formed session cookies and writes host-only Secure HttpOnly Strict ones', () => {
    const id = 'a'.repeat(43);
    expect(readSessionCookie(`theme=dark; __Host-corridor_admin=${id}; x=1`)).toBe(id);
    expect(readSessionCookie(`corridor_admin=${id}`)).toBeUndefined();
    expect(readSessionCookie(`__Host-corridor_admin=${id}x`)).toBeUndefined();
    expect(readSessionCookie('__Host-corridor_admin=../../etc')).toBeUndefined();
    expect(readSessionCookie(undefined)).toBeUndefined();
    expect(sessionCookie(id)).toBe(
      `__Host-corridor_admin=${id}; Path=/; Max-Age=43200; Secure; HttpOnly; SameSite=Strict`,
    );
    expect(clearedSessionCookie()).toContain('Max-Age=0');
  });

  it('treats a corrupt store record as no session', async () => {
    const { store, sessions } = setup();
    const { id } = await sessions.create(user);
    const key = [...(store as unknown as { data: Map<string, unknown> }).data.keys()].find((k) =>
      k.startsWith('dashboard:session:'),
    )!;
    await store.set(key, '{"userId":1}');
    expect(await sessions.get(id)).toBeNull();
    await store.set(key, 'not json');
    expect(await sessions.get(id)).toBeNull();
  });
});

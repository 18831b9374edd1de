/** Dashboard session records: lifetimes, what the store holds, CSRF comparison, cookie parsing. */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Store } from '../../src/store/store.js';
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

/** A store whose reads can be held back, to interleave a request with a log-out. */
function holdableStore(inner: Store): { store: Store; hold(): () => void } {
  let gate: Promise<void> | undefined;
  const wait = async () => {
    if (gate) await gate;
  };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get' || prop === 'mget')
        return async (...args: unknown[]) => {
          const res = await (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          await wait();
          return res;
        };
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return {
    store,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

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

  it('stays ended when a request that read it before the log-out finishes after it', async () => {
    let now = 1_800_000_000_000;
    const clock = () => now;
    const { store, hold } = holdableStore(new MemoryStore(clock));
    const sessions = new DashboardSessions(store, clock);
    const { id } = await sessions.create(user);
    now += 5 * 60_000; // the next use pushes the idle timer back (a store write)
    const release = hold();
    const inFlight = sessions.get(id); // read, now waiting to write its touch
    await new Promise((r) => setTimeout(r, 10));
    release();
    await sessions.destroy(id);
    await inFlight;
    expect(await sessions.get(id)).toBeNull();
    now += 60_000;
    expect(await sessions.get(id)).toBeNull();
  });

  it('ends every session of a user at once, and only those made before', async () => {
    const { sessions, advance } = setup();
    const other = { id: '0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d', email: 'other@example.com' };
    const a = await sessions.create(user);
    const b = await sessions.create(user);
    const o = await sessions.create(other);
    advance(1_000);
    await sessions.endAllOf(user.id);
    expect(await sessions.get(a.id)).toBeNull();
    expect(await sessions.get(b.id)).toBeNull();
    expect(await sessions.get(o.id)).not.toBeNull();
    // A log-in after that (the user was enabled again) works, also in the same millisecond.
    const c = await sessions.create(user);
    expect(await sessions.get(c.id)).not.toBeNull();
    advance(IDLE_MS - 1);
    expect(await sessions.get(a.id)).toBeNull();
    expect(await sessions.get(c.id)).not.toBeNull();
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

/**
 * The listener's connection caps for cluster members that share one address (a whole cluster on
 * one host, members behind one NAT), from outside: real TLS connections from 127.0.0.1, some
 * presenting a member's client certificate, against serveHttps told which certificates are
 * members' (`isMember`). A member's connection counts under its certificate, not its address;
 * strangers and certificates no member has keep the per-address rules exactly. Every assertion
 * is about answers and closes, never about how long they took.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { KeyPair } from "../../lib/net/certificates.ts";
import { jsonResponse } from "../../lib/net/json_response.ts";
import { type HttpLimits, HTTPS_LIMITS, type Listener, serveHttps } from "../../lib/net/serve.ts";
import { head, type RawConnection, tlsConnection, within } from "../helpers/raw_http.ts";
import { keyPair } from "./_helpers.ts";

const SMALL: Partial<HttpLimits> = {
  maxConnections: 8,
  maxConnectionsPerPeer: 3,
  maxConnectionsPerMember: 2,
  headersTimeoutMs: 5000,
};

/** Five members' certificates, and one that no member has. */
let members: KeyPair[] = [];
let outsider: KeyPair;

async function withListener(
  limits: Partial<HttpLimits>,
  fn: (port: number, listener: Listener) => Promise<void>,
): Promise<void> {
  const trusted = new Set(members.map((m) => m.fingerprint));
  const listener = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    ...await keyPair("member-limits-server"),
    handler: () => Promise.resolve(jsonResponse('{"ok":true}', 200)),
    limits,
    isMember: (fp) => trusted.has(fp),
  });
  try {
    await fn(listener.port!, listener);
  } finally {
    await listener.close();
  }
}

const opened: RawConnection[] = [];

/**
 * `n` connections opened one after the other (as `identity` when given), each once the
 * previous one's handshake is done or failed; none sends anything yet.
 */
async function hold(port: number, n: number, identity?: KeyPair): Promise<RawConnection[]> {
  const held: RawConnection[] = [];
  for (let i = 0; i < n; i++) {
    const c = tlsConnection(port, "127.0.0.1", identity);
    opened.push(c);
    held.push(c);
    await within(c.ready.catch(() => {}), 20_000, "handshake or close");
  }
  return held;
}

/** Sends one keep-alive request on `c`: the answer's status, or 0 when it closed without one. */
async function request(c: RawConnection): Promise<number> {
  if (!c.socket.destroyed) c.socket.write(head("GET", "/"));
  return (await within(c.answer, 20_000, "answer or close")).status;
}

/**
 * The statuses of one request on each of `n` connections opened one after the other, each
 * once the previous one was answered (an unanswered connection holds one of its address's
 * turns: `maxPendingPerPeer`).
 */
async function askEach(port: number, n: number, identity?: KeyPair): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const [c] = await hold(port, 1, identity);
    statuses.push(await request(c));
  }
  return statuses;
}

/** One request on a new connection (see {@link askEach}). */
async function ask(port: number, identity?: KeyPair): Promise<number> {
  return (await askEach(port, 1, identity))[0];
}

const test = suite("member connection limits");
test.before(async () => {
  members = await Promise.all([0, 1, 2, 3, 4].map((i) => keyPair(`member-${i}`)));
  outsider = await keyPair("outsider");
});
test.after.each(() => {
  for (const c of opened.splice(0)) c.socket.destroy();
});

test("members sharing one address are answered beyond the address's 64 and 128 connections", async () => {
  const each = HTTPS_LIMITS.maxConnectionsPerPeer;
  // Idle connections are kept open while the others are opened (a loaded machine is slow).
  await withListener({ headersTimeoutMs: 120_000 }, async (port, listener) => {
    // 27 connections per member (under its own cap), 135 in all from 127.0.0.1: beyond the
    // address's refusal (64) and its close before the handshake (128).
    const statuses = await Promise.all(members.map((m) => askEach(port, 27, m)));
    const all = statuses.flat();
    assert.is(all.length, 135);
    assert.ok(all.length > 2 * each);
    assert.equal(all.filter((s) => s !== 200), [], "every member's request answered 200");
    assert.is(listener.guard.connections, 135, "all of them still open");
    // The address's own count is untouched by them: a stranger there has its whole share.
    assert.is(await ask(port), 200);
  });
});

test("a member's connection admitted over its address's cap is answered once its certificate proves it", async () => {
  await withListener(SMALL, async (port) => {
    assert.equal(await askEach(port, 3), [200, 200, 200], "strangers fill the address's share");
    assert.is(await ask(port), 429, "a stranger beyond it is refused");
    assert.is(await ask(port, members[0]), 200, "a member is not");
  });
});

test("strangers and certificates no member has keep exactly the per-address rules", async () => {
  await withListener(SMALL, async (port) => {
    // Members holding connections from the same address do not change a stranger's share.
    assert.equal(await askEach(port, 2, members[0]), [200, 200]);
    assert.equal(await askEach(port, 2, members[1]), [200, 200]);
    const strangers = await hold(port, 3);
    const outsiders = await hold(port, 3, outsider);
    // Twice the address's share (3) is open: closed before the handshake, whatever
    // certificate is presented.
    const [late] = await hold(port, 1, outsider);
    assert.not(await late.ready.then(() => true, () => false), "no handshake");
    assert.is(await request(late), 0);
    const [later] = await hold(port, 1);
    assert.not(await later.ready.then(() => true, () => false), "no handshake");
    // Within the share: answered; beyond it: 429, also with a certificate no member has.
    for (const c of strangers) assert.is(await request(c), 200);
    for (const c of outsiders) assert.is(await request(c), 429);
  });
});

test("a member is bounded under its certificate: 429 beyond its cap, closed beyond twice it", async () => {
  await withListener({ ...SMALL, maxConnections: 100 }, async (port) => {
    const held = await hold(port, 4, members[0]);
    // Twice its share open: the next is closed once its handshake shows whose it is.
    const [late] = await hold(port, 1, members[0]);
    assert.is(await request(late), 0);
    const statuses = [];
    for (const c of held) statuses.push(await request(c));
    assert.equal(statuses, [200, 200, 429, 429]);
    // Another member's share is its own; the address's is untouched by both.
    assert.equal(await askEach(port, 2, members[1]), [200, 200]);
    assert.equal(await askEach(port, 3), [200, 200, 200]);
  });
});

test("a member's connection counts toward the listener's cap like any other", async () => {
  await withListener(SMALL, async (port, listener) => {
    for (const m of members.slice(0, 4)) assert.equal(await askEach(port, 2, m), [200, 200]);
    assert.is(listener.guard.connections, 8);
    assert.is(await ask(port, members[4]), 503, "beyond the listener's 8: busy");
  });
});

test("a member's closed connections leave its count", async () => {
  await withListener(SMALL, async (port, listener) => {
    assert.equal(await askEach(port, 2, members[0]), [200, 200]);
    for (const c of opened.splice(0)) {
      c.socket.destroy();
      await c.closed;
    }
    // The server sees the closes a moment later.
    for (let i = 0; i < 100 && listener.guard.connections > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.is(listener.guard.connections, 0);
    assert.equal(await askEach(port, 2, members[0]), [200, 200]);
  });
});

test.run();

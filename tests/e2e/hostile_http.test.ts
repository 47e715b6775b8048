// deno-lint-ignore-file no-explicit-any
/**
 * Hostile HTTP against a real daemon process (issue 12, defects 1 and 8): clients without a
 * certificate that hold bodies back or crowd the listener, slow heads and bodies, and the odd
 * requests that used to get a 500 or leak. Assertions are about answers and closes (status,
 * envelope, message), never about timing; the memory and latency figures live in
 * `scripts/bench/memory_attack.ts`.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { requestJson } from "../../lib/net/client.ts";
import { HTTPS_LIMITS } from "../../lib/net/limits.ts";
import {
  api,
  bootstrap,
  eventually,
  type Member,
  newMember,
  run,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";
import {
  head,
  type RawConnection,
  tlsConnection,
  unixConnection,
  within,
} from "../helpers/raw_http.ts";
import { lastLines } from "../helpers/process.ts";
import { Buffer } from "node:buffer";
import { join } from "node:path";

interface Ctx {
  m: Member;
  fresh: Member;
}

// A failure prints the daemon's last log lines: it logs the connections it closed unread and
// why (no turn within the head timeout, too many waiting), which the answers alone do not say.
const test = suite<Ctx>(
  "hostile HTTP against a daemon",
  undefined,
  ({ m }) => m?.daemon ? `h1's last log lines:\n${lastLines(m.daemon, 60)}` : "h1 did not start",
);
const opened: RawConnection[] = [];
// Longer than the daemon's 10 s body and head deadlines by far more than load delays them: a
// guard against a hang, not a bound on time.
const ANSWER_MS = 30_000;

function open(port: number, from: string): RawConnection {
  const c = tlsConnection(port, from);
  opened.push(c);
  return c;
}

test.before(async (ctx) => {
  ctx.m = await startMember(await newMember("h1"));
  await bootstrap(ctx.m);
  ctx.fresh = await startMember(await newMember("h2"));
});

test.after.each(() => {
  for (const c of opened.splice(0)) c.socket.destroy();
});

test.after(async (ctx) => {
  await stopMembers([ctx.m, ctx.fresh].filter(Boolean));
});

test("bodies held back by clients without a certificate are answered unread and closed", async ({ m }) => {
  // Each sends as soon as its handshake is done. The daemon gives turns (a few at a time:
  // HTTPS_LIMITS.maxPendingPerPeer) in the order it took the connections up, not the order they
  // were opened in (a SYN dropped from a full accept queue comes a second later): sending in
  // the order opened would wait on one without a turn while those holding the turns, done but
  // silent, are closed as idle.
  const conns = Array.from({ length: 40 }, () => open(m.port, "127.0.0.7"));
  for (const c of conns) {
    c.ready.then(() =>
      c.socket.write(
        head("POST", "/core/1.0/ready", { "content-length": 1_048_576 }) + "x".repeat(65_536),
      ), () => {});
  }
  const answers = await Promise.all(conns.map((c) => within(c.answer, ANSWER_MS, "answer")));
  assert.equal([...new Set(answers.map((a) => a.status))], [405]);
  await Promise.all(conns.map((c) => within(c.closed, ANSWER_MS, "close")));
  const info = await within(probe(m.port, "127.0.0.9"), ANSWER_MS, "GET /core/1.0");
  assert.is(info.status, 200, "another client is served meanwhile");
});

test("one address gets at most its share of connections: 429 beyond it, closed far beyond", async ({ m }) => {
  const each = HTTPS_LIMITS.maxConnectionsPerPeer;
  // All connect at once, and none asks before the four beyond twice the cap are closed: a
  // connection answered 429 is closed after its answer, and the daemon may take up the last
  // connections from its accept queue only after that (under load, CI: all 132 admitted). Until
  // then only the first few finish their handshakes (HTTPS_LIMITS.maxPendingPerPeer); the rest
  // wait unread for a turn, which an answer gives.
  const conns = Array.from({ length: 2 * each + 4 }, () => open(m.port, "127.0.0.8"));
  const settled = { ready: 0, closed: 0 };
  for (const c of conns) c.ready.then(() => settled.ready++, () => settled.closed++);
  await eventually(
    "the connections beyond twice the cap closed, the first turns' handshakes done",
    () => Promise.resolve(settled.closed >= 4 && settled.ready >= HTTPS_LIMITS.maxPendingPerPeer),
    ANSWER_MS,
    20,
  );
  for (const c of conns) c.ready.then(() => c.socket.write(head("GET", "/core/1.0")), () => {});
  const answers = await Promise.all(conns.map((c) => within(c.answer, ANSWER_MS, "answer")));
  const count = (s: number) => answers.filter((a) => a.status === s).length;
  assert.is(count(0), 4, "connections beyond twice the cap are closed unanswered");
  assert.is(count(200), each);
  assert.is(count(429), each);
  const refused = answers.find((a) => a.status === 429)!;
  assert.match((refused.body as any).error, /^Too many connections from this address/);
  const info = await within(probe(m.port, "127.0.0.9"), ANSWER_MS, "GET /core/1.0");
  assert.is(info.status, 200, "another address is served meanwhile");
});

test("the join endpoint, which reads bodies from anyone, bounds them by size, share and time", async ({ m }) => {
  const big = open(m.port, "127.0.0.10");
  await big.ready;
  big.socket.write(head("POST", "/core/internal/cluster", { "content-length": 200_000 }));
  const tooLarge = await within(big.answer, ANSWER_MS, "answer");
  assert.is(tooLarge.status, 413);
  assert.is(
    (tooLarge.body as any).error,
    "Request body exceeds the 131072 bytes this endpoint accepts",
  );

  // A head that never completes. Sent before the bodies below, while the daemon is idle: sent
  // right after them, under Deno at load 66-85, it was closed unanswered instead of 408 in 3 of
  // 5 runs (not yet explained; see the commit message).
  const trickle = open(m.port, "127.0.0.12");
  await trickle.ready;
  trickle.socket.write("GET /core/1.0 HTTP/1.1\r\nhost: coh");

  // Eight bodies of 128 KiB fill one address's 1 MiB share; whichever the daemon reads ninth is
  // refused. They are sent at once and counted, so no order of arrival is assumed.
  const share = HTTPS_LIMITS.maxBufferedBytesPerPeer / 131_072;
  const slow = Array.from({ length: share + 1 }, () => open(m.port, "127.0.0.11"));
  await Promise.all(slow.map((c) => c.ready));
  for (const c of slow) {
    c.socket.write(head("POST", "/core/internal/cluster", { "content-length": 131_072 }) + "{");
  }

  const answers = await Promise.all(slow.map((c) => within(c.answer, ANSWER_MS, "answer")));
  const refused = answers.filter((a) => a.status === 429);
  assert.is(refused.length, 1, "one body beyond the share is refused");
  assert.match(
    (refused[0].body as any).error,
    /^Too many request bodies in flight from this address/,
  );
  const late = answers.filter((a) => a.status !== 429);
  assert.equal([...new Set(late.map((a) => a.status))], [408], "slow bodies time out");
  assert.match((late[0].body as any).error, /^Request body not received within 10 s/);
  const headLate = await within(trickle.answer, ANSWER_MS, "answer");
  assert.is(headLate.status, 408);
  assert.match((headLate.body as any).error, /^Request headers not received within 10 s/);
});

test("odd requests get precise 4xx answers, never a 500, and leak nothing", async ({ m }) => {
  // A 100 000-deep array: within the SQL endpoint's size it is refused for its depth...
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  const sql = await raw(
    unixConnection(join(m.dir, "control.socket")),
    "POST",
    "/core/internal/sql",
    deep,
  );
  assert.is(sql.status, 400);
  assert.is(
    (sql.body as any).error,
    "Invalid request body: arrays and objects nested deeper than 32 levels",
  );
  // ...and beyond an endpoint's size for its size.
  const control = await raw(
    unixConnection(join(m.dir, "control.socket")),
    "POST",
    "/core/control",
    deep,
  );
  assert.is(control.status, 413);
  const shallower = "[".repeat(20_000) + "]".repeat(20_000);
  const join_ = await raw(open(m.port, "127.0.0.13"), "POST", "/core/internal/cluster", shallower);
  assert.is(join_.status, 400);

  for (const c of [open(m.port, "127.0.0.13"), unixConnection(join(m.dir, "control.socket"))]) {
    opened.push(c);
    const trace = await raw(c, "TRACE", "/core/1.0");
    assert.is(trace.status, 405);
    assert.is((trace.body as any).error, "Method TRACE is not allowed");
  }

  const bad = await api(m, "DELETE", "/core/control/tokens/%E0%A4%A");
  assert.is(bad.status, 400);
  assert.is(bad.body.error, "Invalid path: the name is not valid percent-encoded UTF-8");

  const forever = await api(m, "POST", "/core/control/tokens", { name: "n1", expire_after: 1e308 });
  assert.is(forever.status, 400);
  assert.match(forever.body.error, /^Invalid request body: expire_after: /);
  assert.not.match(forever.body.error, /token\/|[0-9a-f]{32}/, "nothing internal in the message");

  const headUnix = await requestJson({
    method: "HEAD",
    path: "/core/1.0",
    socketPath: join(m.dir, "control.socket"),
  });
  assert.is(headUnix.status, 200);
  assert.is(headUnix.body, null, "no body");
  const headTls = await raw(open(m.port, "127.0.0.13"), "HEAD", "/core/1.0");
  assert.is(headTls.status, 200);

  const logs = m.daemon!.logs();
  assert.not.match(logs, /"level":50/, "no error-level log line");
});

test("an address other members cannot dial is refused by init and by the API", async ({ fresh }) => {
  for (const address of ["0.0.0.0:9000", "[::]:9000", "224.0.0.1:9000", "[ff02::1]:9000"]) {
    const r = await run(fresh, ["init", "h2", address, "--bootstrap"]);
    assert.is(r.code, 2, address);
    assert.match(r.stderr, `Invalid ADDRESS "${address}": host is `);
    const res = await api(fresh, "POST", "/core/control", {
      bootstrap: true,
      name: "h2",
      address,
    });
    assert.is(res.status, 400, address);
    assert.match(res.body.error, /^Invalid request body: address: host is /);
  }
  const zero = await run(fresh, ["init", "h2", "127.0.0.1:0", "--bootstrap"]);
  assert.is(zero.code, 2);
  assert.match(zero.stderr, /port must be a whole number from 1 to 65535/);
  const info = await api(fresh, "GET", "/core/1.0");
  assert.is(info.body.metadata.ready, false, "still uninitialised");
});

/** One request on a raw connection; its answer. */
async function raw(c: RawConnection, method: string, path: string, body?: string) {
  opened.push(c);
  await c.ready;
  const headers: Record<string, number> = body === undefined
    ? {}
    : { "content-length": Buffer.byteLength(body) };
  c.socket.write(head(method, path, headers) + (body ?? ""));
  return await within(c.answer, ANSWER_MS, `answer to ${method} ${path}`);
}

/** `GET /core/1.0` over TLS from `from`. */
function probe(port: number, from: string) {
  return raw(open(port, from), "GET", "/core/1.0");
}

test.run();

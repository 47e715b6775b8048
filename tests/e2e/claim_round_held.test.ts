/**
 * End to end, with real member daemons on loopback: a joiner whose admitting member was stopped
 * (SIGSTOP) during its token claim round, and continued after the round's bound
 * (`CLAIM_ROUND_MS`), is admitted when the grants of a majority arrived in time, while it was
 * stopped. A stopped member's loop runs its expired timers before it reads its sockets again:
 * the round refused the join ("… 1 of 3 did (2 needed; unreachable: …)") with the grants
 * waiting unread. The round runs on the daemon's clock, whose timers look at the sockets once
 * more when they run clearly late (`lib/cluster/monotonic_clock.ts`).
 *
 * The joiner is the test itself, sending the join request a joining member sends. A grant is
 * in time when the request reached the other member over a connection the admitting member
 * keeps to it (its previous round's): the other members are stopped first, so that the
 * requests wait in their sockets (seen with `ss`); then the admitting member is stopped, the
 * others continued, and their grants wait in its sockets, until it is continued after the
 * round's bound.
 */
import { execFileSync } from "node:child_process";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import * as assert from "uvu/assert";
import { CLAIM_ROUND_MS } from "../../lib/daemon/flows/confirm_use.ts";
import { httpsPeers } from "../../lib/daemon/peers.ts";
import { suite } from "../helpers/suite.ts";
import { keyPair } from "../net/_helpers.ts";
import {
  api,
  daemonsLastLines,
  decode,
  formCluster,
  freePortAddress,
  issueToken,
  type Member,
  stopMembers,
} from "../helpers/cluster.ts";

interface Ctx {
  cluster: Member[];
}

const test = suite<Ctx>(
  "a claim round whose admitting member was stopped",
  undefined,
  (ctx) => daemonsLastLines(ctx.cluster ?? []),
);

test.before(async (ctx) => {
  ctx.cluster = await formCluster(["ch1", "ch2", "ch3"]);
});

test.after(async (ctx) => {
  for (const m of ctx.cluster ?? []) signal(m, "SIGCONT");
  await stopMembers(ctx.cluster ?? []);
});

/** Sends `m`'s daemon `sig`, if it runs. */
function signal(m: Member, sig: NodeJS.Signals): void {
  const pid = m.daemon?.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch { /* gone */ }
}

/**
 * The established loopback connections to port `to`, from port `from` or from any port of
 * process `pid`: their ports and Recv-Q (bytes arrived, unread).
 */
function connections(
  to: number,
  from: { port?: number; pid?: number },
): { from: number; to: number; recvQ: number }[] {
  const filter = from.port === undefined ? [] : ["sport", "=", `:${from.port}`, "and"];
  let out: string;
  try {
    out = execFileSync(
      "ss",
      ["-tnpH", "state", "established", ...filter, "dport", "=", `:${to}`],
      { encoding: "utf8" },
    );
  } catch (err) {
    throw new Error(
      `this test reads the sockets' queues with ss (apt-get install iproute2): ${err}`,
    );
  }
  return out.split("\n").filter((line) =>
    line && (from.pid === undefined || line.includes(`pid=${from.pid},`))
  ).map((line) => {
    const [recvQ, , local, peer] = line.trim().split(/\s+/);
    const port = (a: string) => Number(a.slice(a.lastIndexOf(":") + 1));
    return { recvQ: Number(recvQ), from: port(local), to: port(peer) };
  });
}

/** Waits until `done()`, at most `ms`; throws naming `what` otherwise. */
async function waitFor(done: () => boolean, what: string, ms = 20_000): Promise<void> {
  const until = performance.now() + ms;
  while (!done()) {
    if (performance.now() > until) throw new Error(`not seen within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

/** The join request of a joining member named `name`, sent to `via` with `token`. */
async function joinAs(via: Member, name: string, token: string) {
  const pair = await keyPair(name);
  const list = await api(via, "GET", "/core/1.0/cluster");
  const own = list.body.metadata.find((e: { name: string }) => e.name === via.name);
  const { secret, fingerprint } = decode(token);
  return await httpsPeers.request({
    address: via.address,
    method: "POST",
    path: "/core/internal/cluster",
    body: {
      name,
      address: await freePortAddress(),
      certificate: pair.cert,
      schema_internal_version: own.schema_internal_version,
      schema_external_version: own.schema_external_version,
      extensions: own.extensions,
      secret,
    },
    fingerprint,
    identity: { cert: pair.cert, key: pair.key },
    timeoutMs: 30_000,
  });
}

/**
 * A first round (a join as `name`, admitted): `via` keeps its connection to `other` for the next
 * one. Then `stopped` are stopped, so that what `via` sends them waits in their sockets, and
 * `via`'s gossip to `other` is told from that kept connection: gossip's connection is the first
 * to hold bytes unread. Returns the `via` ends of the kept connections (none: it closed
 * meanwhile, or gossip used it), and what `via` has unread at `other` now.
 */
async function warmThenStop(via: Member, other: Member, stopped: Member[], name: string) {
  const warm = await joinAs(via, name, await issueToken(via, name));
  assert.is(warm.status, 200, JSON.stringify(warm.body));
  const pid = via.daemon!.child.pid!;
  for (const m of stopped) signal(m, "SIGSTOP");
  const unread = () =>
    connections(other.port, { pid }).filter((c) =>
      connections(c.from, { port: other.port }).some((back) => back.recvQ > 0)
    ).map((c) => c.from);
  await waitFor(() => unread().length > 0, `${via.name}'s gossip waiting at ${other.name}`);
  const gossip = new Set(unread());
  const kept = connections(other.port, { pid }).map((c) => c.from).filter((p) => !gossip.has(p));
  return { kept, unread, gossip: [...gossip] };
}

/** The tries at setting the scene up (see the test); the verdict is asserted on the first set. */
const TRIES = 3;

test("admits the joiner whose grants arrived while it was stopped", async (ctx) => {
  const [ch1, ch2, ch3] = ctx.cluster;
  const missed: string[] = [];
  for (let attempt = 1; attempt <= TRIES; attempt++) {
    const second = await issueToken(ch1, `cw${attempt}`);
    let setup = await warmThenStop(ch1, ch2, [ch2, ch3], `cw${attempt}a`);
    for (let i = 2; setup.kept.length === 0 && i <= 3; i++) {
      // Not told apart this time: again, with a fresh first round.
      signal(ch2, "SIGCONT");
      signal(ch3, "SIGCONT");
      setup = await warmThenStop(ch1, ch2, [ch2, ch3], `cw${attempt}${"abc"[i - 1]}`);
    }
    const { kept, unread, gossip } = setup;
    assert.ok(kept.length > 0, `ch1 keeps a connection to ch2 besides its gossip (${gossip})`);
    const answer = joinAs(ch1, `cw${attempt}`, second);
    answer.catch(() => {});
    let claim = 0;
    try {
      await waitFor(() => {
        claim = unread().find((p) => kept.includes(p)) ?? 0;
        return claim !== 0;
      }, "ch1's claim waiting at ch2 on the connection kept from its first round");
    } catch (err) {
      // The scene was not set: on a loaded machine the kept connection can pass its idle limit
      // (PEER_IDLE_MS) before the claim, which then needs a new one, and no grant can be in
      // time while ch2 is stopped. Everyone continued, the round ends either way; set it again.
      missed.push(String(err));
      signal(ch2, "SIGCONT");
      signal(ch3, "SIGCONT");
      await answer.catch(() => {});
      continue;
    }
    // The round started before its claim reached ch2.
    const started = performance.now();
    const seen = JSON.stringify({ gossip, kept, claim, missed });
    // ch1 stopped, the others continued: ch2's grant waits in ch1's socket.
    signal(ch1, "SIGSTOP");
    signal(ch2, "SIGCONT");
    signal(ch3, "SIGCONT");
    await waitFor(
      () => connections(ch2.port, { port: claim }).some((c) => c.recvQ > 0),
      "ch2's grant waiting at ch1",
    );
    // Continued past the round's bound by more than a held loop's margin (100 ms).
    await sleep(Math.max(0, started + CLAIM_ROUND_MS + 1000 - performance.now()));
    signal(ch1, "SIGCONT");
    const r = await answer;
    assert.is(r.status, 200, `${JSON.stringify(r.body)} ${seen}`);
    return;
  }
  assert.unreachable(`the scene was never set in ${TRIES} tries: ${missed.join("; ")}`);
});

test.run();

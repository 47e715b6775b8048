/**
 * End to end, with four real member daemons on loopback and real joiner daemons: joins raced by
 * other operations at the same moment. One token used by two machines through two members; the
 * same `init --token` run twice at once on one joiner; `tokens revoke` through one member while
 * a joiner uses the token through another; `shutdown` of the admitting member while it admits.
 * Afterwards (`concurrent_invariants.ts`): a token admitted at most one machine, every command
 * said what happened, every member lists the same members, a joiner that lost is clean, no
 * daemon logged an error, and the members involved restart cleanly.
 */
import * as assert from "uvu/assert";
import { suite } from "../helpers/suite.ts";
import {
  api,
  daemonsLastLines,
  decode,
  encode,
  eventually,
  formCluster,
  isClean,
  issueToken,
  join_,
  type Member,
  members,
  newMember,
  run,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";
import {
  agree,
  clearOutcome,
  healthy,
  labelled,
  logged,
  type Outcome,
  restartsCleanly,
  staysOut,
} from "./concurrent_invariants.ts";

interface Ctx {
  cluster: Member[];
  /** Joiners started by the tests (stopped with the cluster). */
  joiners: Member[];
}

const test = suite<Ctx>(
  "joins at the same moment as other operations",
  undefined,
  (ctx) => daemonsLastLines([...(ctx.cluster ?? []), ...(ctx.joiners ?? [])], 40),
);

test.before(async (ctx) => {
  ctx.joiners = [];
  ctx.cluster = await formCluster(["j1", "j2", "j3", "j4"]);
});

test.after(async (ctx) => {
  await stopMembers([...(ctx.cluster ?? []), ...(ctx.joiners ?? [])]);
});

/** A started, uninitialised joiner daemon named `name`. */
async function joiner(ctx: Ctx, name: string): Promise<Member> {
  const m = await startMember(await newMember(name));
  ctx.joiners.push(m);
  return m;
}

/** `token` with its join addresses replaced by `via`'s alone. */
function through(token: string, via: Member): string {
  return encode({ ...decode(token), join_addresses: [via.address] });
}

/** The names each member of `on` lists, checked equal on all; returned sorted. */
async function listedNames(on: Member[]): Promise<string[]> {
  const lists = await Promise.all(on.map(async (m) => (await members(m)).map((e) => e.name)));
  return lists[0].sort();
}

test("one token used by two machines through two members at once: one admitted, the other refused", async (ctx) => {
  const [j1, j2] = ctx.cluster;
  const [a, b] = await Promise.all([joiner(ctx, "x"), joiner(ctx, "x")]);
  const token = await issueToken(j1, "x");
  const outcomes = await Promise.all([
    labelled("init x on machine a through j1", join_(a, through(token, j1))),
    labelled("init x on machine b through j2", join_(b, through(token, j2))),
  ]);
  const used = /already used|claimed by another join|already exists|single use/;
  for (const r of outcomes) clearOutcome(r, [used]);
  const won = outcomes.filter((r) => r.code === 0).length;
  assert.is(won, 1, `exactly one machine admitted: ${outcomes.map((r) => r.stderr)}`);
  const [winner, loser] = outcomes[0].code === 0 ? [a, b] : [b, a];
  assert.ok(isClean(loser), "the refused machine is left clean");
  const on = [...ctx.cluster, winner];
  await agree(on, ["j1", "j2", "j3", "j4", "x"]);
  for (const m of on) {
    const x = (await members(m)).find((e) => e.name === "x")!;
    assert.is(x.address, winner.address, `${m.name} lists x at the admitted machine's address`);
  }
  healthy([...on, loser]);
  await restartsCleanly(winner, on, ["j1", "j2", "j3", "j4", "x"]);
  // The next tests start from the four members.
  const rm = await run(j1, ["cluster", "remove", "x"]);
  assert.is(rm.code, 0, rm.stderr);
  await agree(ctx.cluster, ["j1", "j2", "j3", "j4"]);
});

test("init --token run twice at once on one joiner: it joins once", async (ctx) => {
  const [j1] = ctx.cluster;
  const y = await joiner(ctx, "y");
  const token = await issueToken(j1, "y");
  const outcomes = await Promise.all([
    labelled("first init y", join_(y, token)),
    labelled("second init y", join_(y, token)),
  ]);
  for (const r of outcomes) {
    clearOutcome(r, [
      /already (joining|initialized|used|a member)|under way|in progress|already exists/i,
    ]);
  }
  assert.ok(
    outcomes.some((r) => r.code === 0),
    `one of them joined: ${outcomes.map((r) => r.stderr)}`,
  );
  // The other says what held it: a join under way, or (once it had ended) the member it became,
  // never the host's name a member has before it is named.
  for (const r of outcomes.filter((r) => r.code !== 0)) {
    assert.match(r.stderr, /already under way|already initialized as "y"/, r.stderr);
  }
  const on = [...ctx.cluster, y];
  await agree(on, ["j1", "j2", "j3", "j4", "y"]);
  healthy(on);
  await restartsCleanly(y, on, ["j1", "j2", "j3", "j4", "y"]);
  const rm = await run(j1, ["cluster", "remove", "y"]);
  assert.is(rm.code, 0, rm.stderr);
  await agree(ctx.cluster, ["j1", "j2", "j3", "j4"]);
});

/**
 * How the second operation is started beside a join: at once, through the CLI, or over the
 * control socket the moment the joiner's daemon logs its key pair, made just before its join
 * request (so that it lands inside the admission).
 */
const WHEN = ["at once", "while the join is under way"] as const;

/** Runs `join` and `other` (CLI argv on `on`, or `request` over its socket) as `when` says. */
async function beside(
  when: (typeof WHEN)[number],
  joiner: Member,
  join: Promise<Outcome>,
  on: Member,
  argv: string[],
  request: [string, string],
): Promise<[Outcome, Outcome]> {
  if (when === "at once") return await Promise.all([join, labelled(argv.join(" "), run(on, argv))]);
  // Its key pair is made just before it sends the join request: the request meets the other
  // operation inside the admission (the claim round) rather than before it.
  await logged(joiner, /"msg":"Generated key pair"/);
  const res = await api(on, request[0], request[1]);
  const other = {
    what: `${request.join(" ")} on ${on.name}`,
    code: res.status === 200 ? 0 : 1,
    stdout: "",
    stderr: res.status === 200 ? "" : `Error: ${res.body?.error}`,
  };
  return [await join, other];
}

for (const [i, when] of WHEN.entries()) {
  // A refused join leaves its token live: each variant joins a name of its own.
  const zn = `z${i}`, wn = `w${i}`;
  test(`tokens revoke through one member while a joiner uses the token through another (${when})`, async (ctx) => {
    const [j1, j2, j3] = ctx.cluster;
    const z = await joiner(ctx, zn);
    const token = await issueToken(j1, zn);
    await eventually("the token on j3", async () => {
      const res = await api(j3, "GET", "/core/control/tokens");
      return (res.body.metadata as { name: string }[]).some((t) => t.name === zn);
    });
    const [joined, revoked] = await beside(
      when,
      z,
      labelled(`init ${zn} through j2`, join_(z, through(token, j2))),
      j3,
      ["tokens", "revoke", zn],
      ["DELETE", `/core/control/tokens/${zn}`],
    );
    clearOutcome(joined, [/already used or has been revoked|revoked|single use/]);
    clearOutcome(revoked, [/No (join )?token|not found|already used/i]);
    const names = ["j1", "j2", "j3", "j4", ...(joined.code === 0 ? [zn] : [])];
    const on = [...ctx.cluster, ...(joined.code === 0 ? [z] : [])];
    if (joined.code !== 0) assert.ok(isClean(z), "the refused joiner is clean");
    await agree(on, names);
    await staysOut(on, names);
    // Whoever won, the token admits nobody any more and is listed nowhere.
    for (const m of ctx.cluster) {
      await eventually(`the token gone from ${m.name}`, async () => {
        const res = await api(m, "GET", "/core/control/tokens");
        return !(res.body.metadata as { name: string }[]).some((t) => t.name === zn);
      });
    }
    healthy([...on, z]);
    if (joined.code === 0) {
      const rm = await run(j1, ["cluster", "remove", zn]);
      assert.is(rm.code, 0, rm.stderr);
      await agree(ctx.cluster, ["j1", "j2", "j3", "j4"]);
    }
  });

  test(`shutdown of the admitting member while it admits a joiner (${when})`, async (ctx) => {
    const [j1, , , j4] = ctx.cluster;
    const w = await joiner(ctx, wn);
    const token = await issueToken(j1, wn);
    const [joined, shut] = await beside(
      when,
      w,
      labelled(`init ${wn} through j4`, join_(w, through(token, j4))),
      j4,
      ["shutdown"],
      ["POST", "/core/control/shutdown?wait=1"],
    );
    clearOutcome(joined, [/stopp|shut|not answer|no answer|reach|unavailable|connection/i]);
    clearOutcome(shut);
    assert.is(shut.code, 0, shut.stderr);
    assert.is(await j4.daemon!.exited, 0, "j4 stopped cleanly");
    await startMember(j4);
    const names = ["j1", "j2", "j3", "j4", ...(joined.code === 0 ? [wn] : [])];
    const on = [...ctx.cluster, ...(joined.code === 0 ? [w] : [])];
    if (joined.code !== 0) assert.ok(isClean(w), "the refused joiner is clean");
    await agree(on, names);
    await staysOut(on, names);
    assert.equal(await listedNames(on), names.sort());
    healthy([...on, w]);
    if (joined.code === 0) {
      const rm = await run(j1, ["cluster", "remove", wn]);
      assert.is(rm.code, 0, rm.stderr);
      await agree(ctx.cluster, ["j1", "j2", "j3", "j4"]);
    }
  });
}

test.run();

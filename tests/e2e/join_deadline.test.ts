/**
 * End to end, with real member daemons on loopback: a joiner whose admitting member stalls
 * (SIGSTOP) gets its answer from `cohort init --token` within the join's own deadline, naming
 * each member it asked and what that member did, and is left uninitialised and clean, so that a
 * later `init --token` with a fresh token joins. Before the deadline bounded every wait, the
 * stalled member's 15 s, the other member's refusal and two 10 s requests to be taken out again
 * outlasted the CLI's 30 s: the command failed with its own timeout, and the daemon went on.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  allOnline,
  api,
  daemonsLastLines,
  decode,
  encode,
  formCluster,
  isClean,
  issueToken,
  join_,
  type Member,
  newMember,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";

interface Ctx {
  cluster: Member[];
  joiner?: Member;
}

const test = suite<Ctx>(
  "join deadline end to end",
  undefined,
  (ctx) => daemonsLastLines([...(ctx.cluster ?? []), ctx.joiner]),
);

test.before(async (ctx) => {
  ctx.cluster = await formCluster(["jd1", "jd2"]);
});

test.after(async (ctx) => {
  const stalled = ctx.cluster?.[0]?.daemon?.child.pid;
  if (stalled !== undefined) {
    try {
      process.kill(stalled, "SIGCONT");
    } catch { /* gone */ }
  }
  await stopMembers([...(ctx.cluster ?? []), ...(ctx.joiner ? [ctx.joiner] : [])]);
});

test("a stalled admitting member: init --token fails within the join's deadline naming each member, and a fresh token joins after", async (ctx) => {
  const [first, second] = ctx.cluster;
  const joiner = ctx.joiner = await startMember(await newMember("jd3"));
  // The stalled member first: the joiner asks it, gets no answer, then asks the other.
  const token = decode(await issueToken(first, "jd3"));
  token.join_addresses = [first.address, second.address];
  const pid = first.daemon!.child.pid!;
  process.kill(pid, "SIGSTOP");
  let r;
  try {
    r = await join_(joiner, encode(token));
  } finally {
    process.kill(pid, "SIGCONT");
  }
  assert.is(r.code, 1, `exit code; stderr: ${r.stderr}`);
  // The daemon's answer, not the CLI's own timeout.
  assert.not.match(r.stderr, "POST /core/control", r.stderr);
  // Which member did what, at which step: the stalled one did not answer the join request,
  // the other refused (it could not have the token's single use confirmed without the first).
  assert.match(r.stderr, `asked before it without an answer: ${first.address}`, r.stderr);
  assert.match(r.stderr, "/core/internal/cluster", r.stderr);
  assert.match(r.stderr, `refused by ${second.address}`, r.stderr);
  // No half state: nothing of the cluster's left, no join mark, and not ready.
  assert.ok(isClean(joiner), "no cluster state left in the joiner's directory");
  assert.not.ok(existsSync(join(joiner.dir, "transition.json")), "no join mark left");
  const info = await api(joiner, "GET", "/core/1.0");
  assert.is(info.body?.metadata?.ready, false, JSON.stringify(info.body));
  // Once the stalled member is back, a fresh token joins.
  await allOnline([first, second], ["jd1", "jd2"], 30_000);
  // The first token was never used: it is revoked, and another issued.
  const revoked = await api(first, "DELETE", "/core/control/tokens/jd3");
  assert.is(revoked.status, 200, JSON.stringify(revoked.body));
  const again = await join_(joiner, await issueToken(first, "jd3"));
  assert.is(again.code, 0, again.stderr);
  await allOnline([first, second, joiner], ["jd1", "jd2", "jd3"], 30_000);
});

test.run();

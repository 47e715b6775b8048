/**
 * End to end, four real member daemons on loopback: two members removed at once, then joined
 * again at once under their names as soon as they are reset (a retry loop, an automation
 * replacing machines), well within the gossip layer's reap interval. Every member must list
 * both ONLINE again: a member that still held a removed incarnation's `left` entry listed the
 * new one UNREACHABLE for minutes (seen in `concurrent_remove`'s set-up).
 */
import { suite } from "../helpers/suite.ts";
import {
  daemonsLastLines,
  formCluster,
  joinVia,
  type Member,
  run,
  stopMembers,
} from "../helpers/cluster.ts";
import { agree, clearOutcome, labelled, removedAndReset } from "./concurrent_invariants.ts";

interface Ctx {
  cluster: Member[];
}

const test = suite<Ctx>(
  "members removed and joined again at once",
  undefined,
  (ctx) => daemonsLastLines(ctx.cluster ?? [], 60),
);

const NAMES = ["g1", "g2", "g3", "g4"];

test.before(async (ctx) => {
  ctx.cluster = await formCluster(NAMES);
});

test.after(async (ctx) => {
  await stopMembers(ctx.cluster ?? []);
});

test("two members removed at once and joined again at once are listed ONLINE by every member", async (ctx) => {
  const [g1, g2, g3, g4] = ctx.cluster;
  for (let round = 1; round <= 3; round++) {
    const outcomes = await Promise.all([
      labelled("remove g1 through g3", run(g3, ["cluster", "remove", "g1"])),
      labelled("remove g2 through g4", run(g4, ["cluster", "remove", "g2"])),
    ]);
    for (const r of outcomes) clearOutcome(r);
    await Promise.all([removedAndReset(g1), removedAndReset(g2)]);
    // One after the other, with tokens from one member (as an operator's loop would).
    await joinVia(g3, g1);
    await joinVia(g3, g2);
    await agree(ctx.cluster, NAMES);
  }
});

test.run();

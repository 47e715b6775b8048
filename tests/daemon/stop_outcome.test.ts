/**
 * What a member's stop resolves to (`Daemon.stop()`, `Daemon.closed`, a shutdown request's
 * answer), on whole members in one process (a simulated clock): a stop whose store could not
 * take what it had to write resolved as a clean one, so `cohort daemon` exited 0 and its
 * supervisor recorded a clean stop. With a real daemon on a read-only disk, see
 * `tests/faults/disk_readonly.fault.ts`.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createLogger } from "../../lib/log.ts";
import { toStoreError } from "../../lib/store/errors.ts";
import { MemoryCluster, networkOf } from "../helpers/memory_member.ts";

const test = suite<{ sim: MemoryCluster }>("a member's stop outcome");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(47);
});

test.after.each(async ({ sim }) => {
  await sim.stop();
});

const full = () =>
  toStoreError(
    Object.assign(new Error("SQLITE_FULL: database or disk is full"), { code: "SQLITE_FULL" }),
    "Upsert 1 cluster members",
  );

/** The `msg` of each JSON line in `lines`. */
const messages = (lines: string[]) => lines.map((l) => JSON.parse(l).msg as string);

test("a stop whose store takes its writes resolves stored, as closed does", async ({ sim }) => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", write: (l) => void lines.push(l) });
  const [m1] = await sim.form(1, () => ({ logger }));
  const outcome = await sim.drive(m1.stop());
  assert.equal(outcome, { stored: true });
  assert.equal(await m1.closed, { stored: true });
  assert.is(messages(lines).at(-1), "Daemon stopped");
});

test("a stop whose store refuses its writes resolves not stored, says why, and last", async ({ sim }) => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", write: (l) => void lines.push(l) });
  const [m1] = await sim.form(1, () => ({ logger }));
  const persistence = networkOf(m1).persistence;
  persistence.written = () => Promise.reject(full());
  // Asked as the control socket asks it: answered once the writes failed, before the close.
  const answer = m1.requestShutdown();
  const outcome = await sim.drive(m1.closed);
  assert.is(outcome.stored, false);
  assert.match(outcome.problem!, /^no space left on the disk of its state directory: free space/);
  assert.not.match(outcome.problem!, /cohort-mem|SQLITE|Upsert/, "no path, no store internals");
  assert.equal(await answer, outcome);
  assert.equal(await m1.stop(), outcome, "a later stop() says the same");
  const last = messages(lines).at(-1)!;
  assert.match(last, /^Daemon stopped without storing what it had to: no space left on the disk/);
  assert.match(last, /of state directory "[^"]*cohort-mem-m1-/, "the log names the directory");
  assert.is(JSON.parse(lines.at(-1)!).level, 50, "an error");
});

test.run();

/**
 * `cohort waitready --timeout S` stopped with SIGSTOP while it waits and continued past its
 * deadline (a paused VM, a starved machine), as an operator's script meets it: the daemon became
 * ready meanwhile, yet the command said "not ready" without asking it again and exited 1. The
 * command and the daemon are real processes; until the daemon starts, a stand-in answers "not
 * ready" on its control socket, so that the test knows the command is polling (its deadline
 * set) before it stops it. In one process, see `tests/cli/waitready_held_loop.test.ts`.
 */
import process from "node:process";
import * as assert from "uvu/assert";
import { callDaemon } from "../../lib/cli/daemon_client.ts";
import { selfCommand } from "../../lib/runtime.ts";
import { type Member, newMember, startMember, stopMembers } from "../helpers/cluster.ts";
import { CLI_ENTRY, lastLines, outcome, spawnTracked } from "../helpers/process.ts";
import { readyStandIn } from "../helpers/ready_stand_in.ts";
import { suite } from "../helpers/suite.ts";

const current: Member[] = [];
const test = suite(
  "waitready stopped past its deadline",
  {},
  () =>
    current.map((m) => `--- ${m.name}:\n${m.daemon ? lastLines(m.daemon) : "(not started)"}`)
      .join("\n"),
);

/** Resolves once `check` holds, polling every 20 ms. */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

test("continued after the daemon became ready: it asks once more and exits 0", async () => {
  const m = await newMember("wr");
  current.splice(0, current.length, m);
  const TIMEOUT_S = 3;
  try {
    const standIn = await readyStandIn(m.dir);
    const { command, args } = selfCommand(CLI_ENTRY);
    const child = spawnTracked(
      command,
      [...args, "waitready", "--timeout", String(TIMEOUT_S), "--state-dir", m.dir],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
    );
    const run = outcome(child);
    // Its first question came after it set its deadline: past this, the deadline has passed.
    await until(() => standIn.state.asked > 0 || child.exitCode !== null);
    const pastDeadline = performance.now() + TIMEOUT_S * 1000;
    process.kill(child.pid!, "SIGSTOP");
    try {
      await standIn.listener.close();
      await startMember(m);
      await until(() => callDaemon(m.dir, "GET", "/core/1.0/ready").then(() => true, () => false));
      await until(() => performance.now() > pastDeadline);
    } finally {
      process.kill(child.pid!, "SIGCONT");
    }
    const { code, stderr } = await run;
    // It said "the daemon was not ready after 3 s: Daemon is not ready yet" and exited 1.
    assert.is(code, 0, stderr);
  } finally {
    await stopMembers([m]);
  }
});

test.run();

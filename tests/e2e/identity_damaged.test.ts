/**
 * A member whose certificate or key file is damaged (empty, as an operating-system crash can
 * leave a file that was never synced) refuses to start, naming the file. Real member daemons on
 * loopback: a joined member stopped, one of its identity files emptied, restarted. Before, with
 * an empty `cluster.key` it started and reported itself ONLINE (it dials out with its own
 * certificate) while no member could complete a TLS handshake with its listener; an empty
 * `server.key` failed with "DECODER routines::unsupported", naming no file.
 */
import { truncateSync } from "node:fs";
import { join } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  daemonArgs,
  daemonsLastLines,
  formCluster,
  type Member,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { exitOf, startDaemonProcess } from "../helpers/process.ts";

interface Ctx {
  cluster: Member[];
}

const test = suite<Ctx>(
  "a member restarted with a damaged identity file",
  undefined,
  (ctx) => daemonsLastLines(ctx.cluster ?? []),
);

test.before(async (ctx) => {
  ctx.cluster = await formCluster(["a", "b", "c"]);
});

test.after(async (ctx) => {
  await stopMembers(ctx.cluster);
});

for (const [i, file] of [[1, "cluster.key"], [2, "server.key"]] as const) {
  test(`an empty ${file}: the start fails, naming the file`, async (ctx) => {
    const m = ctx.cluster[i];
    await stop(m);
    truncateSync(join(m.dir, file), 0);
    m.daemon = startDaemonProcess(daemonArgs(m));
    const code = await exitOf(m.daemon, m.name, 60_000);
    assert.is.not(code, 0, "the daemon exited with 0");
    const logs = m.daemon.logs();
    assert.ok(
      logs.includes(`Cannot read "${join(m.dir, file)}"`),
      `its output names ${file}:\n${logs.slice(-1500)}`,
    );
  });
}

test.run();

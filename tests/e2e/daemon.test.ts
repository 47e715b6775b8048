// deno-lint-ignore-file no-explicit-any
/**
 * End to end: a real daemon process, driven through the real CLI, read over HTTPS with the
 * cluster certificate pinned; then restarted from its state directory.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { fingerprint } from "../../lib/net/certificates.ts";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import {
  cohort,
  type DaemonProcess,
  exitOf,
  freePort,
  removeDir,
  startDaemonProcess,
  tempDir,
  waitForSocket,
} from "../helpers/process.ts";

interface Ctx {
  dir: string;
  port: number;
  daemon?: DaemonProcess;
}

const test = suite<Ctx>("daemon end to end");

test.before(async (ctx) => {
  ctx.dir = tempDir();
  ctx.port = await freePort();
});

test.after(async (ctx) => {
  if (ctx.daemon && ctx.daemon.child.exitCode === null) {
    ctx.daemon.child.kill("SIGKILL");
    await ctx.daemon.exited;
  }
  removeDir(ctx.dir);
});

async function getInfo(dir: string, port: number): Promise<any> {
  const cert = readFileSync(join(dir, "cluster.crt"), "utf8");
  const { status, body } = await requestJson({
    method: "GET",
    url: `https://127.0.0.1:${port}/core/1.0`,
    tls: pinnedTlsOptions({ fingerprint: fingerprint(cert) }),
  });
  assert.is(status, 200);
  return (body as any).metadata;
}

test("a daemon starts, bootstraps over the socket and serves HTTPS", async (ctx) => {
  ctx.daemon = startDaemonProcess([
    "--state-dir",
    ctx.dir,
    "--extensions",
    "feature_a,feature_b",
    "--app-version",
    "2.0.0",
  ]);
  await waitForSocket(ctx.dir, ctx.daemon);
  // As MicroCluster: a started daemon is ready before init (scripts run waitready first).
  const before = await cohort(["waitready", "--timeout", "10", "--state-dir", ctx.dir]);
  assert.is(before.code, 0, before.stderr);

  const init = await cohort([
    "init",
    "c1",
    `127.0.0.1:${ctx.port}`,
    "--bootstrap",
    "--state-dir",
    ctx.dir,
  ]);
  assert.is(init.stderr, "");
  assert.is(init.code, 0);
  assert.match(init.stdout, `Bootstrapped cohort member "c1" at 127.0.0.1:${ctx.port}`);
  assert.is((await cohort(["waitready", "--timeout", "10", "--state-dir", ctx.dir])).code, 0);

  const socketMode = statSync(join(ctx.dir, "control.socket")).mode & 0o777;
  assert.is(socketMode, 0o660);

  const info = await getInfo(ctx.dir, ctx.port);
  assert.equal(info, {
    name: "c1",
    address: `127.0.0.1:${ctx.port}`,
    version: "2.0.0",
    ready: true,
    extensions: ["internal:runtime_extension_v1", "feature_a", "feature_b"],
  });
});

test("the wrong pinned fingerprint is refused", async (ctx) => {
  try {
    await requestJson({
      method: "GET",
      url: `https://127.0.0.1:${ctx.port}/core/1.0`,
      tls: pinnedTlsOptions({ fingerprint: "ab".repeat(32) }),
    });
    assert.unreachable("a mismatched certificate must not be accepted");
  } catch (err) {
    assert.not.instance(err, assert.Assertion);
  }
});

test("cluster list and sql show the bootstrapped member", async (ctx) => {
  const list = await cohort(["cluster", "list", "-f", "json", "--state-dir", ctx.dir]);
  assert.is(list.code, 0);
  const members = JSON.parse(list.stdout);
  assert.is(members.length, 1);
  assert.is(members[0].name, "c1");
  assert.is(members[0].role, "voter");
  assert.is(members[0].status, "ONLINE");
  assert.ok(members[0].schema_internal_version >= 1);
  assert.equal(members[0].extensions, [
    "internal:runtime_extension_v1",
    "feature_a",
    "feature_b",
  ]);

  const sql = await cohort([
    "sql",
    "SELECT name, role, api_extensions FROM core_cluster_members",
    "--state-dir",
    ctx.dir,
  ]);
  assert.is(sql.code, 0);
  assert.match(sql.stdout, /NAME|name/);
  assert.match(
    sql.stdout,
    /c1\s+voter\s+\["internal:runtime_extension_v1","feature_a","feature_b"\]/,
  );
});

test("a second daemon on the same state directory is refused", async (ctx) => {
  const second = startDaemonProcess(["--state-dir", ctx.dir]);
  const code = await exitOf(second, "the second daemon");
  assert.is(code, 1, second.logs());
  assert.match(second.logs(), /in use by another cohort daemon/);
});

test("a restarted daemon resumes as the same member", async (ctx) => {
  const stop = await cohort(["shutdown", "--state-dir", ctx.dir]);
  assert.is(stop.code, 0, stop.stderr);
  assert.is(await exitOf(ctx.daemon!, "the stopped daemon"), 0, ctx.daemon!.logs());

  ctx.daemon = startDaemonProcess([
    "--state-dir",
    ctx.dir,
    "--extensions",
    "feature_a,feature_b,feature_c",
    "--app-version",
    "2.1.0",
  ]);
  await waitForSocket(ctx.dir, ctx.daemon);
  assert.is((await cohort(["waitready", "--timeout", "10", "--state-dir", ctx.dir])).code, 0);
  const info = await getInfo(ctx.dir, ctx.port);
  assert.is(info.name, "c1");
  assert.is(info.ready, true);
  assert.is(info.version, "2.1.0");
  assert.equal(info.extensions.slice(-1), ["feature_c"]);

  const list = await cohort(["cluster", "list", "-f", "json", "--state-dir", ctx.dir]);
  assert.equal(JSON.parse(list.stdout)[0].extensions.slice(-1), ["feature_c"]);
  // process.kill, not child.kill: Deno's child_process reports any child it signalled itself
  // as killed by that signal, even when the child handled it and exited 0.
  process.kill(ctx.daemon.child.pid!, "SIGTERM");
  assert.is(await exitOf(ctx.daemon, "the stopped daemon"), 0, ctx.daemon.logs());
});

test.run();

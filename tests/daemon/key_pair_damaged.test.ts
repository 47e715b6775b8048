/**
 * `cohort init` on a state directory holding a key pair a crash left damaged, with real daemons:
 * an earlier release renamed its key pairs into place unsynced, so an operating-system crash
 * during an `init` that never completed could leave `server.crt`, `server.key` or the cluster's
 * pair empty or full of zeros (a cluster pair among them makes the start remove them all). Every later `init` then refused ("Parse certificate: not a PEM
 * X.509 certificate", naming no file), and kept refusing. Such a pair belongs to a member that
 * never joined (the pairs of one that did are read by its start, which refuses naming the file:
 * `network_start.ts`), so nobody knows it: it is made anew, with a warning naming the file. A
 * file that holds something else (placed by hand) is refused, naming the file (it said "Parse
 * certificate", naming none).
 */
import { Buffer } from "node:buffer";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  bootstrap,
  logLines,
  type Member,
  newMember,
  run,
  startMember,
  stateFile,
  stop,
} from "../helpers/cluster.ts";
import { removeDir } from "../helpers/process.ts";

const test = suite<{ m?: Member }>("init over a damaged key pair");

test.after.each(async (ctx) => {
  if (ctx.m) {
    await stop(ctx.m);
    removeDir(ctx.m.dir);
  }
});

test("an empty or zeroed pair of a member that never joined is made anew, named", async (ctx) => {
  const m = ctx.m = await newMember("k1");
  // Alone: a cluster pair beside it makes the start remove every pair as what an
  // initialisation cut short left (`flows/start.ts`).
  writeFileSync(join(m.dir, "server.crt"), "");
  writeFileSync(join(m.dir, "server.key"), Buffer.alloc(227), { mode: 0o600 });
  await startMember(m);
  await bootstrap(m);
  for (const f of ["server.crt", "cluster.crt"]) assert.match(stateFile(m, f), /-----END/);
  const warned = logLines(m, /Generated key pair/).join("\n");
  assert.match(warned, /"reason":"server\.crt empty/, warned);
});

test("a pair that holds something else is refused, named; the next init makes one", async (ctx) => {
  const m = ctx.m = await newMember("k2");
  writeFileSync(join(m.dir, "server.crt"), "-----BEGIN CERTIFICATE-----\nMIIB\n");
  writeFileSync(join(m.dir, "server.key"), "placed by hand", { mode: 0o600 });
  await startMember(m);
  const r = await run(m, ["init", m.name, m.address, "--bootstrap"]);
  assert.is.not(r.code, 0, r.stdout);
  assert.match(r.stderr, /server\.crt/, r.stderr);
  assert.not.match(r.stderr, new RegExp(m.dir), "no path of the state directory over the wire");
  // The failed init's undo removes what it found (as any init cut short): the next makes a pair.
  await bootstrap(m);
  assert.match(stateFile(m, "server.crt"), /-----END/);
});

test.run();

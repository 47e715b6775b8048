/**
 * An extension server's dedicated certificate on a disk that fills up, as an app's operator
 * meets it: a member (in process, as an app embeds it) whose `STATE_DIR/certificates` is a
 * 4 kB tmpfs, room for the key but not the certificate. The pair was written in place: the key
 * landed, the certificate was left empty, and every later start read that empty certificate
 * back, so the server never listened again, even once room was made. Now each file lands whole
 * or not at all, and the server is tried again on the member's clock: once room is made, the
 * running member makes the pair and serves it (it was tried only at the next start or `PUT`).
 *
 * A pair an earlier release left cut short is refused, naming the file (a dedicated certificate
 * clients may pin is never replaced silently).
 *
 * Needs root (mount); registered through `faultTest`, so it skips visibly where it cannot run.
 */
// deno-lint-ignore-file no-explicit-any
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createMember, type Daemon, syncResponse } from "../../mod.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { requestJson } from "../../lib/net/client.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";
import { memoryLogger } from "../net/_helpers.ts";
import { presented } from "../helpers/server_pairs.ts";
import { leftovers, tmpfs } from "./disks.ts";
import { faultTest } from "./suite.ts";

const test = suite("an extension server's dedicated certificate on a full disk");

/** A member of `dir` with one dedicated-certificate server at `web`, bootstrapped. */
async function start(dir: string, address: string, web: string) {
  const { logger, lines } = memoryLogger();
  const member: Daemon = await createMember({
    stateDir: dir,
    gossipPreset: "local",
    metrics: false,
    logger,
    certificateIssuer: inProcessIssuer,
    servers: {
      web: {
        address: web,
        dedicatedCertificate: true,
        endpoints: [{
          method: "GET",
          path: "/hi",
          access: "open",
          handler: () => syncResponse("hi"),
        }],
      },
    },
  });
  if (!existsSync(join(dir, "daemon.json"))) {
    await member.initialize({ bootstrap: true, name: "c1", address });
  }
  return { member, lines };
}

/** The servers' entries of `GET /core/1.0/daemon/servers` on the member of `dir`. */
async function servers(dir: string): Promise<Record<string, any>> {
  const res = await requestJson({
    method: "GET",
    path: "/core/1.0/daemon/servers",
    socketPath: join(dir, "control.socket"),
  }) as { status: number; body: any };
  assert.is(res.status, 200, JSON.stringify(res.body));
  return res.body.metadata;
}

/** Waits until `f` holds (at most `ms`). */
async function until(f: () => boolean | Promise<boolean>, ms = 60_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await f()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return await f();
}

faultTest(
  test,
  "a full disk leaves no certificate cut short; made once room is, without a restart",
  async () => {
    const dir = tempDir("cohort-srvcert-");
    const certs = join(dir, "certificates");
    mkdirSync(certs, { mode: 0o700 });
    const fs = tmpfs(certs, "4k");
    const [address, web] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    let m: Daemon | undefined;
    try {
      const first = await start(dir, address, web);
      m = first.member;
      assert.ok(
        await until(() => first.lines.some((l) => l.msg === "Extension server could not listen")),
        "the full disk is reported",
      );
      // The operator sees why at `GET /core/1.0/daemon/servers`, no path of the machine in it.
      const entry = (await servers(dir)).web;
      assert.is(entry.status, "failed", JSON.stringify(entry));
      assert.match(entry.error, /could not be written: the disk is full; free space/);
      assert.not.match(entry.error, dir);
      // Whole or absent: never an empty or cut-short certificate a later start reads back.
      for (const f of ["web.crt", "web.key"]) {
        const path = join(certs, f);
        if (existsSync(path)) {
          assert.ok(readFileSync(path, "utf8").includes("-----END"), `${f} whole`);
        }
      }
      assert.equal(leftovers(certs), [], "no temporary left behind");
      assert.is(spawnSync("mount", ["-o", "remount,size=1m", certs]).status, 0, "room made");
      // Tried again on its own: the server presents the pair made now, kept whole on disk.
      const kept = () =>
        existsSync(join(certs, "web.crt"))
          ? new X509Certificate(readFileSync(join(certs, "web.crt"), "utf8")).fingerprint256
          : "none kept";
      assert.ok(
        await until(async () => (await presented(web)) === kept(), 90_000),
        await presented(web),
      );
      assert.equal((await servers(dir)).web, { address: web, status: "listening" });
      assert.is(
        first.lines.filter((l) => l.msg === "Extension server could not listen").length,
        1,
        "the failure logged once, however often it was tried",
      );
      assert.ok(first.lines.some((l) => l.msg === "Extension server listening"));
      const made = kept();
      await m.stop();
      m = undefined;
      // The next start serves the same pair.
      const second = await start(dir, address, web);
      m = second.member;
      assert.ok(await until(async () => (await presented(web)) === made), await presented(web));
    } finally {
      await m?.stop();
      fs.remove();
      removeDir(dir);
    }
  },
);

faultTest(test, "a certificate an earlier release left cut short is refused, named", async () => {
  const dir = tempDir("cohort-srvcert-");
  const certs = join(dir, "certificates");
  mkdirSync(certs, { mode: 0o700 });
  const [address, web] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  let m: Daemon | undefined;
  try {
    const pair = await inProcessIssuer.issue({ name: "web" });
    writeFileSync(join(certs, "web.key"), pair.key, { mode: 0o600 });
    writeFileSync(join(certs, "web.crt"), pair.cert.slice(0, 100), { mode: 0o644 });
    const started = await start(dir, address, web);
    m = started.member;
    assert.ok(
      await until(() =>
        started.lines.some((l) =>
          l.msg === "Extension server could not listen" &&
          JSON.stringify(l).includes(join(certs, "web.crt"))
        )
      ),
      JSON.stringify(started.lines.filter((l) => String(l.msg).startsWith("Extension"))),
    );
    assert.match(await presented(web), /^error/);
    assert.is(readFileSync(join(certs, "web.crt"), "utf8"), pair.cert.slice(0, 100), "kept");
  } finally {
    await m?.stop();
    removeDir(dir);
  }
});

test.run();

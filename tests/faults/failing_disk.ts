/**
 * A member's disk that fails on demand with EIO, as a failing drive does: an ext4 file system on
 * a loop device over a file that `failing_disk.c` (a FUSE file system, compiled here) serves from
 * an image, and fails on a signal. The kernels these tests run on have no device-mapper (no
 * `error` or `flakey` target), no null_blk and no fault injection: a loop device over a FUSE file
 * is the block device whose errors a test can switch. ext4 then meets real I/O errors from the
 * block layer: writes back and syncs fail with EIO, reads past the cache too, and once its
 * journal fails it turns itself read-only (EROFS).
 *
 * Needs root, /dev/fuse, gcc and libfuse3 (installed with apt-get when missing).
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import * as assert from "uvu/assert";
import { type Ext4, ext4, makeExt4, type Mounted } from "./disks.ts";
import { forget, onExit } from "./cleanup.ts";
import { aptInstall, ensureCommand, sh, underCi } from "./system.ts";

/**
 * Compiles `failing_disk.c` into `dir` (installing gcc, pkg-config and libfuse3's headers when
 * missing): the program's path, or why it cannot be built.
 */
export function buildFailingDisk(dir: string): { path?: string; why?: string } {
  if (!existsSync("/dev/fuse")) return { why: "no /dev/fuse (the kernel has no FUSE)" };
  for (const [command, pkg] of [["gcc", "gcc"], ["pkg-config", "pkg-config"]]) {
    const why = ensureCommand(command, pkg);
    if (why) return { why };
  }
  if (!sh("pkg-config", ["--exists", "fuse3"]).ok) {
    const why = aptInstall("libfuse3-dev");
    if (why) return { why };
  }
  const flags = sh("pkg-config", ["--cflags", "--libs", "fuse3"]);
  if (!flags.ok) return { why: `pkg-config fuse3: ${flags.err}` };
  const source = fileURLToPath(new URL("./failing_disk.c", import.meta.url));
  const path = join(dir, "failing_disk");
  const r = spawnSync("gcc", ["-O2", "-o", path, source, ...flags.out.trim().split(/\s+/)], {
    encoding: "utf8",
  });
  return r.status === 0 ? { path } : { why: `gcc failed: ${r.stderr || r.error}` };
}

/** What {@link buildFailingDisk} gave, by build directory (one build per test file). */
const builds = new Map<string, { path?: string; why?: string }>();

/**
 * The failing disk's program, built into `dir` on the first call: its path, or `undefined` once
 * it said why it cannot be built (the case then skips, saying so); under CI that fails the case.
 */
export function failingDiskProgram(dir: string): string | undefined {
  let built = builds.get(dir);
  if (!built) builds.set(dir, built = buildFailingDisk(dir));
  if (built.path) return built.path;
  if (underCi) assert.unreachable(`cannot build the failing disk: ${built.why}`);
  console.log(`SKIPPED (cannot build the failing disk: ${built.why})`);
  return undefined;
}

/** An ext4 file system on a device that fails on demand, mounted under a member's state dir. */
export interface FailingDisk extends Mounted {
  /** The ext4 file system on it (its `fail` is ext4's own, not the device's). */
  readonly fs: Ext4;
  /**
   * The device fails every read and write from now on (EIO); what the member's files hold is
   * dropped from the page cache, so their reads reach the device too.
   */
  fail(): void;
  /**
   * The device fails every read and write from now on (EIO), what the page cache holds kept:
   * writes into cached pages still succeed, and the next sync fails (as a device that fails
   * under a running member first shows).
   */
  failKeepingCache(): void;
  /**
   * Syncs the whole file system, as the kernel's next journal commit does within seconds on a
   * busy disk: ext4 meets the failure writing its journal and superblock, and turns itself
   * read-only (until then, writes no sync follows land in the page cache and succeed).
   */
  sync(): void;
  /**
   * Repaired as in production, the daemon stopped: unmounted, the device replaced (it no
   * longer fails), checked with `e2fsck`, mounted again.
   */
  repair(): void;
}

/** Mounts a new ext4 file system on a failing device (built by `program`) on `dir`. */
export async function failingDisk(dir: string, program: string): Promise<FailingDisk> {
  const image = `${dir}.img`;
  const served = `${dir}.dev`;
  makeExt4(image);
  mkdirSync(served, { recursive: true });
  const server: ChildProcess = spawn(program, [image, served], { stdio: "ignore" });
  server.on("error", () => {});
  // By PID: under Deno a child process object takes no second signal once it sent one.
  const gone = (signal: "SIGTERM" | "SIGKILL") => {
    try {
      process.kill(server.pid!, signal);
    } catch { /* exited already */ }
    sh("umount", ["-l", served]);
    rmSync(served, { recursive: true, force: true });
    rmSync(image, { force: true });
  };
  const id = onExit(() => gone("SIGKILL"));
  const device = join(served, "disk");
  for (let i = 0; i < 100 && !isFile(device); i++) await sleep(50);
  assert.ok(isFile(device), `the failing device served at ${device}`);
  let fs: Ext4;
  try {
    fs = ext4(dir, device);
  } catch (err) {
    gone("SIGTERM");
    forget(id);
    throw err;
  }
  /** Signals the server and waits until its device reads (or fails) as asked. */
  const signal = (failing: boolean) => {
    sh("kill", [failing ? "-USR1" : "-USR2", String(server.pid)]);
    for (let i = 0; i < 100; i++) {
      if (sh("dd", [`if=${device}`, "of=/dev/null", "bs=4096", "count=1"]).ok !== failing) return;
      spawnSync("sleep", ["0.05"]);
    }
    assert.unreachable(`the device ${failing ? "failing" : "healed"} after 5 s`);
  };
  return {
    fs,
    fail() {
      const cached = files(dir); // listed while the device still reads
      signal(true);
      for (const path of cached) {
        sh("dd", [`if=${path}`, "iflag=nocache", "count=0", "status=none"]);
      }
    },
    failKeepingCache() {
      signal(true);
    },
    sync() {
      assert.not.ok(sh("sync", ["-f", dir]).ok, "the sync fails");
    },
    repair() {
      fs.repair(() => signal(false));
    },
    remove() {
      fs.remove();
      gone("SIGTERM");
      forget(id);
    },
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The paths of the files under `dir`, whose cached pages `fail` drops. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return files(path);
    return entry.isFile() ? [path] : [];
  });
}

/**
 * An earlier cohort release, run from its own source tree for end-to-end tests of what it left
 * on disk: the tree of a git commit of this repository (`git archive`, so no worktree is
 * registered) in a temporary directory, with this tree's `node_modules` linked in, its daemons
 * and commands run by Deno (`deno run -A mod.ts`, no build needed) whatever runtime the test
 * runs on. Needs git and the commit (a full clone); a missing one fails the test, naming it.
 */
import { execFileSync } from "node:child_process";
import { symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import process from "node:process";
import type { Member } from "./cluster.ts";
import {
  type DaemonProcess,
  outcome,
  removeDir,
  type Run,
  spawnTracked,
  startDaemonProcess,
  tempDir,
  waitForSocket,
} from "./process.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const DENO = join(root, "node_modules/.bin/deno");

/** An earlier release's tree, ready to run. */
export interface EarlierRelease {
  /** Its tree (removed by {@link EarlierRelease.remove}). */
  dir: string;
  /** Starts its daemon for `m` (`daemonArgs` as the cluster helpers give them); waits for its socket. */
  start(m: Member, args: string[]): Promise<DaemonProcess>;
  /** Runs its `cohort <argv> --state-dir <m.dir>` to completion. */
  run(m: Member, argv: string[]): Promise<Run>;
  /** Removes its tree. */
  remove(): void;
}

/**
 * Unpacks commit `ref` of this repository (its source: `mod.ts`, `lib/`, `routes/`, `gossip/`
 * and the package files) into a temporary directory.
 *
 * @throws naming the commit when git or the commit is not there (a shallow clone).
 */
export function earlierRelease(ref: string): EarlierRelease {
  const dir = tempDir("cohort-earlier-");
  try {
    const paths = ["mod.ts", "lib", "routes", "gossip", "deno.json", "package.json"];
    const tar = execFileSync("git", ["-C", root, "archive", "--format=tar", ref, ...paths], {
      maxBuffer: 256 * 1024 * 1024,
      stdio: ["ignore", "pipe", "pipe"],
    });
    execFileSync("tar", ["-x", "-C", dir], { input: tar });
  } catch (err) {
    removeDir(dir);
    throw new Error(
      `cannot unpack the earlier release ${ref} (this test needs git and a full clone): ` +
        (err as Error).message,
    );
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  const entry = { command: DENO, args: ["run", "-A", join(dir, "mod.ts")] };
  return {
    dir,
    async start(m, args) {
      m.daemon = startDaemonProcess(args, entry);
      await waitForSocket(m.dir, m.daemon);
      return m.daemon;
    },
    run(m, argv) {
      const child = spawnTracked(DENO, [...entry.args, ...argv, "--state-dir", m.dir], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" },
      });
      return outcome(child);
    },
    remove: () => removeDir(dir),
  };
}

/**
 * A TCP port below 10000 that was free a moment ago on every local address (`::`, which covers
 * IPv4 too): one that a leading zero still leaves five digits long (`09101`), as gossip
 * addresses of the earlier releases had to be.
 */
export async function lowPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 2000 + Math.floor(Math.random() * 8000);
    const free = await new Promise<boolean>((done) => {
      const server = createServer();
      server.once("error", () => done(false));
      server.listen(port, "::", () => server.close(() => done(true)));
    });
    if (free) return port;
  }
  throw new Error("no free TCP port below 10000");
}

/**
 * What the fault harness needs from the machine, installed when missing: root, `ip` with
 * network namespaces, `nft` (Debian's `nftables`) and, for the comparison, `serf` (Debian's
 * `serf`). {@link faultSupport} answers once per process with the reason the matrix cannot run,
 * or `undefined` when it can.
 *
 * Policy: outside CI a machine that cannot run the matrix (not root, no namespaces, no package
 * manager) skips it with one visible line naming the reason. Under CI (`CI` set) the same
 * reason fails the run instead: CI runs as root and must exercise the matrix, and a matrix that
 * silently stops running would look like a pass.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import process from "node:process";

/** Runs a command to completion; `ok` when it exited 0. */
export function sh(
  command: string,
  args: string[],
  input?: string,
  timeoutMs = 60_000,
): { ok: boolean; out: string; err: string } {
  const r = spawnSync(command, args, {
    input,
    encoding: "utf8",
    timeout: timeoutMs,
    stdio: ["pipe", "pipe", "pipe"],
  });
  return { ok: r.status === 0, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ?? "") };
}

function has(command: string): boolean {
  return sh("sh", ["-c", `command -v ${command}`]).ok;
}

let updated = false;

/** `apt-get install -y <pkg>` (after one `apt-get update`); the error text when it failed. */
export function aptInstall(pkg: string): string | undefined {
  if (!has("apt-get")) return `${pkg} is missing and apt-get is not available to install it`;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!updated) {
    spawnSync("apt-get", ["update", "-q"], { stdio: "ignore", env, timeout: 300_000 });
    updated = true;
  }
  const r = spawnSync("apt-get", ["install", "-y", "-q", pkg], {
    encoding: "utf8",
    env,
    timeout: 300_000,
  });
  if (r.status !== 0) return `apt-get install ${pkg} failed: ${(r.stderr ?? "").trim()}`;
  return undefined;
}

/**
 * Makes `command` available, installing Debian's `pkg` with apt-get when it is missing (as
 * root): the reason it cannot be, or `undefined` once it is on PATH.
 */
export function ensureCommand(command: string, pkg: string): string | undefined {
  if (has(command)) return undefined;
  const failed = aptInstall(pkg);
  if (failed) return failed;
  return has(command) ? undefined : `${pkg} installed but ${command} is not on PATH`;
}

let cached: string | undefined | null = null;

/**
 * The reason this machine cannot run the fault matrix, or `undefined` when it can. Installs
 * `nftables` and `serf` with apt-get when they are missing (as root only).
 */
export function faultSupport(): string | undefined {
  if (cached !== null) return cached;
  cached = probe();
  return cached;
}

function probe(): string | undefined {
  if (process.platform !== "linux") return `needs Linux network namespaces (${process.platform})`;
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return "needs root (network namespaces, veth pairs and nftables rules)";
  }
  if (!has("ip")) {
    const failed = aptInstall("iproute2");
    if (failed) return failed;
  }
  for (const [command, pkg] of [["nft", "nftables"], ["serf", "serf"]]) {
    const failed = ensureCommand(command, pkg);
    if (failed) return failed;
  }
  // The kernel must allow namespaces, veth pairs and nftables inside a namespace.
  const ns = `cfprobe${process.pid.toString(36)}`;
  try {
    const add = sh("ip", ["netns", "add", ns]);
    if (!add.ok) return `cannot create a network namespace: ${add.err.trim()}`;
    const veth = sh("ip", ["-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1"]);
    if (!veth.ok) return `cannot create a veth pair: ${veth.err.trim()}`;
    const rules = "table inet probe {\n  chain input {\n    type filter hook input priority 0;" +
      " policy accept;\n    numgen random mod 100 < 1 counter\n  }\n}\n";
    const nft = sh("ip", ["netns", "exec", ns, "nft", "-f", "-"], rules);
    if (!nft.ok) return `nftables does not work in a namespace: ${nft.err.trim()}`;
  } finally {
    sh("ip", ["netns", "del", ns]);
  }
  return undefined;
}

/** Whether the run is under CI, where a matrix that cannot run fails instead of skipping. */
export const underCi: boolean = !!process.env.CI && process.env.CI !== "false";

/** `uptime`'s load averages, e.g. `"load average: 1.20, 0.90, 0.70"`, for every figure. */
export function load(): string {
  const r = sh("uptime", []);
  const m = /load averages?:\s*(.*)$/.exec(r.out.trim());
  return m ? `load ${m[1]}` : r.out.trim();
}

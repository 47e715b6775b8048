/**
 * Reading the Prometheus text format in tests, and promtool: the format is written by
 * prom-client, and these helpers only look values up.
 */
import { spawnSync } from "node:child_process";
import process from "node:process";

/**
 * Sample lines of a text exposition by series (`name{labels}` exactly as written, or `name`).
 * Comment lines are skipped.
 */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** The value of the one series of `name` whose labels include every pair of `labels`. */
export function value(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  let found: number | undefined;
  for (const [series, v] of samples(text)) {
    const brace = series.indexOf("{");
    if ((brace < 0 ? series : series.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([k, l]) => series.includes(`${k}="${l}"`))) {
      found = (found ?? 0) + v;
    }
  }
  return found;
}

/**
 * The `promtool` binary: found on PATH, or installed with apt-get (Debian's `prometheus`
 * package) when running as root. Returns the reason instead when it cannot be had.
 */
export function promtool(): { path: string } | { skip: string } {
  const which = () => spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" });
  let found = which().stdout.trim();
  if (found) return { path: found };
  if (process.getuid?.() !== 0) return { skip: "promtool is missing and apt-get needs root" };
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  spawnSync("apt-get", ["update", "-qq"], { env, stdio: "ignore", timeout: 300_000 });
  const install = spawnSync(
    "apt-get",
    // Another test file may be installing a package at the same time: wait for dpkg's lock.
    [
      "install",
      "-y",
      "-qq",
      "-o",
      "DPkg::Lock::Timeout=600",
      "--no-install-recommends",
      "prometheus",
    ],
    { env, encoding: "utf8", timeout: 600_000 },
  );
  found = which().stdout.trim();
  if (found) return { path: found };
  return {
    skip: `promtool could not be installed (apt-get install prometheus exited ${install.status}: ${
      (install.stderr ?? "").trim().split("\n").pop()
    })`,
  };
}

/** Runs `promtool check metrics` on `text`: its exit code and output. */
export function checkMetrics(path: string, text: string): { code: number; output: string } {
  const r = spawnSync(path, ["check", "metrics"], { input: text, encoding: "utf8" });
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}`.trim() };
}

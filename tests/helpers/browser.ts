/**
 * Headless Chromium for end-to-end tests of the status page: Debian's `chromium` (installed with
 * apt-get when missing and the tests run as root), driven by playwright-core with a fresh
 * profile. Returns the reason instead when the browser cannot be had.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";

/** Where Debian's package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** The flags the browser runs with: headless, no sandbox (root), nothing from the network. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Finds (or installs) Chromium: its path, or why it cannot be had. */
export function findChromium(): { path: string } | { skip: string } {
  if (existsSync(CHROMIUM)) return { path: CHROMIUM };
  if (process.getuid?.() !== 0) return { skip: `${CHROMIUM} is missing and apt-get needs root` };
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
      "chromium",
    ],
    { env, encoding: "utf8", timeout: 900_000 },
  );
  if (existsSync(CHROMIUM)) return { path: CHROMIUM };
  return {
    skip: `chromium could not be installed (apt-get install chromium exited ${install.status}: ${
      (install.stderr ?? "").trim().split("\n").pop()
    })`,
  };
}

/** Launches the browser with a fresh profile in `profileDir`. */
export function launchChromium(path: string, profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: path,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
}

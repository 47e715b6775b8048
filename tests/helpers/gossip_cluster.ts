/**
 * A cluster of real cohort daemon processes on 127.0.0.1 for the gossip end-to-end test and the
 * loopback benchmark: members are started with the runtime the caller runs on (see
 * {@link startDaemonProcess}), the first bootstrapped and the others joined with fresh tokens
 * through the real CLI, and read over their control sockets. Every process is stopped by PID.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import WebSocket from "ws";
import { fingerprint } from "../../lib/net/certificates.ts";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import {
  cohort,
  type DaemonProcess,
  freePort,
  lastLines,
  removeDir,
  startDaemonProcess,
  tempDir,
  waitForSocket,
} from "./process.ts";

/** One `GET /core/1.0/cluster` entry, as the tests read it. */
export interface ClusterEntry {
  name: string;
  address: string;
  role: string;
  status: string;
  extensions: string[];
  extension_verdict: { verdict: string; missing: string[]; extra: string[] };
  app_version: string;
  last_heartbeat: string;
}

/** One member daemon of a {@link GossipCluster}. */
export interface ClusterMember {
  readonly name: string;
  readonly dir: string;
  readonly address: string;
  /** Extensions and app version the next (re)start uses. */
  extensions: string[];
  appVersion: string;
  /** The current process. */
  proc?: DaemonProcess;
}

/** Options of {@link startGossipCluster}. */
export interface GossipClusterOptions {
  /** Number of members. */
  members: number;
  /** Gossip preset of every daemon. @default "local" */
  preset?: "lan" | "local";
  /** Every member's extensions. @default ["feature_a"] */
  extensions?: string[];
  /** App version of every member. @default "1.0.0" */
  appVersion?: string;
  /** Name prefix. @default "m" */
  prefix?: string;
  /** Members to start and join now (the others are created but not started). @default all */
  initial?: number;
  /** Called after each step (for progress output). */
  progress?: (text: string) => void;
}

/** A running cluster; see the module docs. */
export interface GossipCluster {
  readonly members: ClusterMember[];
  readonly preset: "lan" | "local";
  /** Starts (or restarts) a member's daemon process and waits for its control socket. */
  start(member: ClusterMember): Promise<void>;
  /** Issues a token on `via` and joins `member` (started, uninitialised) with it. */
  join(member: ClusterMember, via: ClusterMember): Promise<void>;
  /** Sends a signal to a member's process by PID (no wait); a no-op once it exited. */
  signal(member: ClusterMember, signal: NodeJS.Signals): void;
  /** SIGTERM, then waits for exit (SIGKILL after `timeoutMs`). Resolves with the exit code. */
  stop(member: ClusterMember, timeoutMs?: number): Promise<number>;
  /** SIGKILL and wait. */
  kill(member: ClusterMember): Promise<void>;
  /** Whether the member's process is running. */
  running(member: ClusterMember): boolean;
  /** The member's view: `GET /core/1.0/cluster` over its control socket. */
  view(member: ClusterMember): Promise<ClusterEntry[]>;
  /** Kills every process still running (SIGCONT + SIGKILL) and removes the state directories. */
  stopAll(): Promise<void>;
}

/**
 * Polls `check` every `intervalMs` until it returns true; resolves with the time it took, throws
 * naming `what` after `timeoutMs`.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last: unknown;
  for (let i = 0; Date.now() < deadline && i < 100_000; i++) {
    try {
      if (await check()) return Date.now() - started;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/**
 * Creates `options.members` members, starts the first `initial` daemons, bootstraps the first
 * and joins the others (tokens issued one by one on the first member, joins run at once).
 */
export async function startGossipCluster(options: GossipClusterOptions): Promise<GossipCluster> {
  const preset = options.preset ?? "local";
  const prefix = options.prefix ?? "m";
  const progress = options.progress ?? (() => {});
  const members: ClusterMember[] = [];
  const taken = new Set<number>();
  for (let i = 1; i <= options.members; i++) {
    // freePort may hand out the same port twice in a row: keep them distinct.
    let port = await freePort();
    for (let j = 0; j < 50 && taken.has(port); j++) port = await freePort();
    taken.add(port);
    members.push({
      name: `${prefix}${i}`,
      dir: tempDir(`cohort-${prefix}${i}-`),
      address: `127.0.0.1:${port}`,
      extensions: [...(options.extensions ?? ["feature_a"])],
      appVersion: options.appVersion ?? "1.0.0",
    });
  }
  const running = (m: ClusterMember) =>
    !!m.proc && m.proc.child.exitCode === null && m.proc.child.signalCode === null;
  const run = async (m: ClusterMember, args: string[]) => {
    const r = await cohort([...args, "--state-dir", m.dir]);
    if (r.code !== 0) throw new Error(`cohort ${args[0]} on ${m.name}: ${r.stderr}`);
    return r.stdout.trim();
  };

  const cluster: GossipCluster = {
    members,
    preset,
    running,
    async start(m) {
      m.proc = startDaemonProcess([
        "--state-dir",
        m.dir,
        "--gossip-preset",
        preset,
        "--extensions",
        m.extensions.join(","),
        "--app-version",
        m.appVersion,
      ]);
      await waitForSocket(m.dir, m.proc);
    },
    async join(m, via) {
      const token = await run(via, ["tokens", "add", m.name]);
      await run(m, ["init", m.name, m.address, "--token", token]);
    },
    signal(m, signal) {
      // process.kill by PID, not child.kill: Deno's child_process reports any child it signalled
      // itself as killed by that signal, even when it exited cleanly.
      if (m.proc?.child.pid && running(m)) process.kill(m.proc.child.pid, signal);
    },
    async stop(m, timeoutMs = 10_000) {
      if (!m.proc) return -1;
      cluster.signal(m, "SIGTERM");
      const timer = setTimeout(() => cluster.signal(m, "SIGKILL"), timeoutMs);
      const code = await m.proc.exited;
      clearTimeout(timer);
      return code;
    },
    async kill(m) {
      if (!m.proc) return;
      cluster.signal(m, "SIGKILL");
      await m.proc.exited;
    },
    async view(m) {
      const { status, body } = await requestJson({
        method: "GET",
        path: "/core/1.0/cluster",
        socketPath: join(m.dir, "control.socket"),
        timeoutMs: 2000,
      });
      if (status !== 200) throw new Error(`${m.name}: HTTP ${status}`);
      return (body as { metadata: ClusterEntry[] }).metadata;
    },
    async stopAll() {
      for (const m of members) {
        if (m.proc && running(m)) {
          cluster.signal(m, "SIGCONT");
          cluster.signal(m, "SIGKILL");
          await m.proc.exited;
        }
        removeDir(m.dir);
      }
    },
  };

  try {
    const initial = members.slice(0, options.initial ?? members.length);
    await Promise.all(initial.map((m) => cluster.start(m)));
    progress(`started ${initial.length} daemons`);
    const [first, ...rest] = initial;
    await run(first, ["init", first.name, first.address, "--bootstrap"]);
    progress(`bootstrapped ${first.name}`);
    const tokens: string[] = [];
    for (const m of rest) tokens.push(await run(first, ["tokens", "add", m.name]));
    await Promise.all(rest.map(async (m, i) => {
      await run(m, ["init", m.name, m.address, "--token", tokens[i]]);
      progress(`joined ${m.name}`);
    }));
  } catch (err) {
    await cluster.stopAll();
    throw err;
  }
  return cluster;
}

/**
 * Opens `target`'s gossip WebSocket as a member dials it: pinned to the cluster certificate in
 * `target`'s state directory, presenting `identity` (a certificate and its key) and advertising
 * `advertised` as its own address. Resolves with the open socket, with the HTTP status of a
 * refused upgrade, or with -1 after 5 s.
 */
export function dialGossip(
  target: ClusterMember,
  identity: { cert: string; key: string },
  advertised: string,
): Promise<WebSocket | number> {
  const clusterCert = readFileSync(join(target.dir, "cluster.crt"), "utf8");
  const ws = new WebSocket(`wss://${target.address}/core/internal/gossip`, {
    ...pinnedTlsOptions({
      fingerprint: fingerprint(clusterCert),
      peerCert: clusterCert,
      cert: identity.cert,
      key: identity.key,
    }),
    perMessageDeflate: false,
    headers: { "x-cohort-address": advertised },
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(-1), 5000);
    ws.on("error", () => {});
    ws.on("unexpected-response", (_req, res) => {
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
  });
}

/** The states a member logged about `name`, in order (its "Membership event" lines). */
export function loggedStates(observer: ClusterMember, name: string): string[] {
  const out: string[] = [];
  for (const line of observer.proc!.logs().split("\n")) {
    if (!line.includes('"Membership event"')) continue;
    try {
      const rec = JSON.parse(line) as { member?: string; state?: string };
      if (rec.member === name && rec.state) out.push(rec.state);
    } catch { /* a partial line at the end of the buffer */ }
  }
  return out;
}

/**
 * Every running member's last `n` log lines, one block per member: what a failed test of a
 * cluster prints (who suspected whom and when, what a member dropped).
 */
export function membersLastLines(cluster: GossipCluster | undefined, n: number): string {
  return (cluster?.members ?? []).filter((m) => m.proc).map((m) =>
    `${m.name}'s last log lines:\n${lastLines(m.proc!, n)}`
  ).join("\n");
}

/** `m`'s metrics text (`GET /core/1.0/metrics` over its control socket). */
export async function metricsOf(m: ClusterMember): Promise<string> {
  const { status, body } = await requestJson({
    method: "GET",
    path: "/core/1.0/metrics",
    socketPath: join(m.dir, "control.socket"),
    timeoutMs: 5000,
  });
  if (status !== 200 || typeof body !== "string") throw new Error(`${m.name}: HTTP ${status}`);
  return body;
}

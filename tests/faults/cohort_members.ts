/**
 * cohort members as real daemon processes, one per node of a {@link FaultNet}: member `i` runs
 * `cohort daemon` (with the test's runtime) inside node `i`'s namespace and serves on
 * `<node ip>:7443`; the cluster is formed through the CLI (`init --bootstrap`, `tokens add`,
 * `init --token`), which reaches each daemon over its control socket from outside the
 * namespaces. Membership events are read back from the daemons' JSON log lines.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { selfCommand } from "../../lib/runtime.ts";
import {
  allOnline,
  type Entry,
  eventually,
  kill,
  type Member,
  members,
  run,
  stop,
} from "../helpers/cluster.ts";
import {
  ENTRY,
  removeDir,
  startDaemonProcess,
  tempDir,
  waitForSocket,
} from "../helpers/process.ts";
import { forget, onExit } from "./cleanup.ts";
import type { FaultNet } from "./netns.ts";

/** The port every member serves on (each has an address of its own). */
export const PORT = 7443;
/** The app extensions of every member. */
export const EXTENSIONS = ["feature_a"];

/** One line of a daemon's "Membership event" log. */
export interface MembershipEvent {
  /** When the daemon logged it, ms since the epoch. */
  time: number;
  /** `member-join`, `member-update`, `member-suspect`, `member-failed` or `member-left`. */
  event: string;
  /** The member the event is about. */
  member: string;
  state: string;
  incarnation: number;
}

/** Options of {@link NsCohort}. */
export interface NsCohortOptions {
  /** Gossip timing preset. @default "local" */
  preset?: "lan" | "local";
  /** Member names are `<prefix><index>`. @default "m" */
  prefix?: string;
  /** The daemons' log level (`COHORT_LOG_LEVEL`). @default "info" */
  logLevel?: "debug" | "info";
}

/** cohort daemons in the namespaces of a {@link FaultNet}. */
export class NsCohort {
  readonly net: FaultNet;
  readonly preset: "lan" | "local";
  readonly members: Member[];
  readonly #exitAction: number;
  readonly #logLevel: "debug" | "info";

  constructor(net: FaultNet, options: NsCohortOptions = {}) {
    this.net = net;
    this.preset = options.preset ?? "local";
    this.#logLevel = options.logLevel ?? "info";
    const prefix = options.prefix ?? "m";
    this.members = net.nodes.map((node) => ({
      name: `${prefix}${node.index}`,
      dir: tempDir(`${net.id}-${prefix}${node.index}-`),
      port: PORT,
      address: `${node.ip}:${PORT}`,
    }));
    // Processes die with their namespaces; the state directories are ours to remove.
    const dirs = this.members.map((m) => m.dir);
    this.#exitAction = onExit(() => dirs.forEach(removeDir));
  }

  /** Names of the members at `indices` (all by default). */
  names(indices?: readonly number[]): string[] {
    return (indices ?? this.members.map((_, i) => i)).map((i) => this.members[i].name);
  }

  /** Starts (or restarts) member `i`'s daemon in its namespace; waits for its control socket. */
  async start(i: number): Promise<Member> {
    const m = this.members[i];
    const self = selfCommand(ENTRY);
    const entry = this.net.command(i, self.command, self.args);
    m.daemon = startDaemonProcess(
      [
        "--state-dir",
        m.dir,
        "--gossip-preset",
        this.preset,
        "--extensions",
        EXTENSIONS.join(","),
      ],
      entry,
      { COHORT_LOG_LEVEL: this.#logLevel },
    );
    await waitForSocket(m.dir, m.daemon, 60_000);
    return m;
  }

  /** `cohort <argv> --state-dir <dir of member i>` through the CLI. */
  cli(i: number, argv: string[]) {
    return run(this.members[i], argv);
  }

  /** `cohort tokens add NAME` on member `via`: the printed token. */
  async token(via: number, name: string): Promise<string> {
    const r = await this.cli(via, ["tokens", "add", name]);
    if (r.code !== 0) throw new Error(`tokens add ${name} on ${via}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /**
   * Starts the daemons at `indices` (all by default), bootstraps the first with
   * `init --bootstrap`, joins the others with `init --token` (tokens from `tokens add` on the
   * first), and waits until each of them lists all of them ONLINE.
   */
  async form(indices?: readonly number[], timeoutMs = 90_000): Promise<void> {
    const list = indices ?? this.members.map((_, i) => i);
    await Promise.all(list.map((i) => this.start(i)));
    const [first, ...rest] = list;
    const boot = this.members[first];
    const r0 = await this.cli(first, ["init", boot.name, boot.address, "--bootstrap"]);
    if (r0.code !== 0) throw new Error(`bootstrap: ${r0.stderr}\n${boot.daemon?.logs()}`);
    const tokens = await Promise.all(rest.map((i) => this.token(first, this.members[i].name)));
    await Promise.all(rest.map(async (i, k) => {
      const m = this.members[i];
      const r = await this.cli(i, ["init", m.name, m.address, "--token", tokens[k]]);
      if (r.code !== 0) throw new Error(`join ${m.name}: ${r.stderr}\n${m.daemon?.logs()}`);
    }));
    await allOnline(list.map((i) => this.members[i]), this.names(list), timeoutMs);
  }

  /** The cluster as member `i` sees it. */
  view(i: number): Promise<Entry[]> {
    return members(this.members[i]);
  }

  /**
   * `undefined` when every member at `on` lists exactly `names`, all ONLINE; else a description
   * of the first member that does not.
   */
  async disagreement(on: readonly number[], names: readonly string[]): Promise<string | undefined> {
    const want = [...names].sort().join(",");
    for (const i of on) {
      let list: Entry[];
      try {
        list = await this.view(i);
      } catch (err) {
        return `${this.members[i].name}: ${(err as Error).message}`;
      }
      const got = list.map((e) => e.name).join(",");
      if (got !== want || list.some((e) => e.status !== "ONLINE")) {
        return `${this.members[i].name} sees ${list.map((e) => `${e.name}:${e.status}`).join(",")}`;
      }
    }
    return undefined;
  }

  /**
   * Polls (every 100 ms) until every member at `on` lists exactly `names` ONLINE; resolves with
   * the time it happened (ms since the epoch), or throws after `timeoutMs` with the last
   * disagreement.
   */
  async waitForOneView(
    on: readonly number[],
    names: readonly string[],
    timeoutMs: number,
  ): Promise<number> {
    return await eventually(`one view of ${names.join(",")}`, async () => {
      const problem = await this.disagreement(on, names);
      if (problem) throw new Error(problem);
      return Date.now();
    }, timeoutMs);
  }

  /**
   * Like {@link waitForOneView}, as a figure: `ms` from `since` until one view, or the last
   * disagreement as `problem` when there was none within `timeoutMs`.
   */
  async timeToOneView(
    on: readonly number[],
    names: readonly string[],
    since: number,
    timeoutMs: number,
  ): Promise<{ ms?: number; problem?: string }> {
    try {
      return { ms: (await this.waitForOneView(on, names, timeoutMs)) - since };
    } catch (err) {
      return { problem: (err as Error).message };
    }
  }

  /** Membership events logged by member `i` since `since` (ms since the epoch). */
  events(i: number, since = 0): MembershipEvent[] {
    const out: MembershipEvent[] = [];
    for (const line of this.members[i].daemon?.logs().split("\n") ?? []) {
      if (!line.includes('"Membership event"')) continue;
      try {
        const e = JSON.parse(line) as MembershipEvent;
        if (e.time >= since) out.push(e);
      } catch { /* a line cut short by a kill */ }
    }
    return out;
  }

  /** Writes each member's log (JSON lines) to `<dir>/<name>.log`. */
  saveLogs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const m of this.members) writeFileSync(join(dir, `${m.name}.log`), m.daemon?.logs() ?? "");
  }

  /** Path of member `i`'s state file `file`. */
  file(i: number, file: string): string {
    return join(this.members[i].dir, file);
  }

  /** Stops member `i` (SIGTERM, SIGKILL after 5 s). */
  stop(i: number): Promise<void> {
    return stop(this.members[i]);
  }

  /** Kills member `i` with SIGKILL. */
  kill(i: number): Promise<void> {
    return kill(this.members[i]);
  }

  /** Stops every daemon and removes every state directory. */
  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => stop(m).catch(() => {})));
    for (const m of this.members) removeDir(m.dir);
    forget(this.#exitAction);
  }
}

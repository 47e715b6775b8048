/**
 * The soak benchmark's cluster (`soak.ts`): real member daemons in slots, each with a state
 * directory and an address for the whole run, run, stopped and replaced the way an operator
 * does, and the checks that the cluster converged after each action.
 */
import { type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import {
  cohort,
  freePort,
  removeDir,
  type Run,
  spawnTracked,
  waitForSocket,
} from "../../tests/helpers/process.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");

/** One member's place in the cluster: its directory and address outlive its processes. */
export interface Slot {
  index: number;
  /** The member's current name ("" while uninitialised). */
  name: string;
  dir: string;
  address: string;
  runtime: "node" | "deno";
  child?: ChildProcess;
  pid?: number;
  /** Counts the slot's processes: a restart starts a new incarnation. */
  incarnation: number;
  state: "up" | "down" | "paused";
  logFiles: string[];
}

/** The cluster under soak; see the module docs. */
export class Cluster {
  readonly slots: Slot[] = [];
  readonly failures: string[] = [];
  readonly counts = new Map<string, number>();
  actions = 0;
  private names = 0;

  constructor(private work: string, private out: string, members: number, deno: number) {
    for (let i = 1; i <= members; i++) {
      this.slots.push({
        index: i,
        name: "",
        dir: join(work, `slot${i}`),
        address: "",
        runtime: i > members - deno ? "deno" : "node",
        incarnation: 0,
        state: "down",
        logFiles: [],
      });
    }
  }

  /** A fresh member name: names are never reused, as an operator replacing machines does. */
  newName(): string {
    return `m${++this.names}`;
  }

  /** Records a failed check (printed in the report, and at once). */
  fail(what: string): void {
    this.failures.push(`#${this.actions} ${what}`);
    console.error(`[soak] CHECK FAILED #${this.actions} ${what}`);
  }

  /** `cohort ARGV --state-dir` of `slot`, through the installed command line. */
  cli(slot: Slot, argv: string[], input?: string): Promise<Run> {
    return cohort([...argv, "--state-dir", slot.dir], input);
  }

  /** Runs `argv` on `slot` and records a failure when it does not exit 0. */
  async must(slot: Slot, argv: string[], input?: string): Promise<Run> {
    const r = await this.cli(slot, argv, input);
    if (r.code !== 0) {
      this.fail(
        `${argv.join(" ")} on ${slot.name || `slot${slot.index}`}: exit ${r.code}: ` +
          r.stderr.trim().slice(0, 300),
      );
    }
    return r;
  }

  /** Starts the slot's daemon at the default log level and waits for its control socket. */
  async start(slot: Slot): Promise<void> {
    mkdirSync(slot.dir, { recursive: true });
    slot.incarnation++;
    const logFile = join(this.out, `slot${slot.index}.${slot.incarnation}.log`);
    slot.logFiles.push(logFile);
    const fd = openSync(logFile, "a");
    const [command, prefix] = slot.runtime === "deno"
      ? [join(root, "node_modules/.bin/deno"), ["run", "-A", join(root, "mod.ts")]]
      : [process.execPath, [join(root, "dist/mod.js")]];
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
    delete env.COHORT_LOG_LEVEL;
    const child = spawnTracked(command, [
      ...prefix,
      "daemon",
      "--state-dir",
      slot.dir,
      "--extensions",
      "feature_a,feature_b",
    ], { stdio: ["ignore", "ignore", fd], env });
    closeSync(fd);
    slot.child = child;
    slot.pid = child.pid;
    slot.state = "up";
    child.on("exit", () => {
      if (slot.child === child) slot.state = "down";
    });
    await waitForSocket(slot.dir, undefined, 90_000);
  }

  /** Stops the slot's daemon with `signal` and waits for its exit (SIGKILL after 30 s). */
  async stop(slot: Slot, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const child = slot.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    // Down from the signal on: a scrape or a list meanwhile is not a failed check.
    slot.state = "down";
    process.kill(child.pid!, signal);
    const late = await Promise.race([exited, sleep(30_000, "late")]);
    if (late === "late") {
      this.fail(`slot${slot.index} (${slot.name}) did not exit within 30 s of ${signal}`);
      process.kill(child.pid!, "SIGKILL");
      await exited;
    }
    slot.state = "down";
  }

  /** Bootstraps slot 1 and joins the others, each with a token issued by slot 1. */
  async form(): Promise<void> {
    for (const s of this.slots) {
      s.address = `127.0.0.1:${await freePort()}`;
      await this.start(s);
    }
    const [first, ...rest] = this.slots;
    const name = this.newName();
    const boot = await this.cli(first, ["init", name, first.address, "--bootstrap"]);
    if (boot.code !== 0) throw new Error(`bootstrap: ${boot.stderr}`);
    first.name = name;
    for (const s of rest) {
      if (!(await this.join(s, first))) throw new Error(`could not form: ${this.failures}`);
    }
    if (!(await this.converged(60_000))) throw new Error("the new cluster did not converge");
  }

  /** Joins the uninitialised daemon of `slot` under a new name with a token from `via`. */
  async join(slot: Slot, via: Slot): Promise<boolean> {
    const name = this.newName();
    const token = await this.must(via, ["tokens", "add", name]);
    if (token.code !== 0) return false;
    // The token on standard input: an operator keeps it out of ps.
    const r = await this.must(slot, ["init", name, slot.address, "--token", "-"], token.stdout);
    if (r.code !== 0) return false;
    slot.name = name;
    return true;
  }

  /** Continues every stopped (SIGSTOP) member. */
  resumeAll(): void {
    for (const s of this.slots) {
      if (s.state === "paused" && s.pid) process.kill(s.pid, "SIGCONT");
      if (s.state === "paused") s.state = "up";
    }
  }

  /** The names each serving member should list, and whether each should be ONLINE. */
  private expected(): Map<string, boolean> {
    const want = new Map<string, boolean>();
    for (const s of this.slots) if (s.name) want.set(s.name, s.state === "up");
    return want;
  }

  /** Whether `slot` lists exactly the expected members, ONLINE where expected; else why not. */
  async listsExpected(slot: Slot): Promise<string | undefined> {
    const r = await this.cli(slot, ["cluster", "list", "-f", "json"]);
    if (r.code !== 0) return `cluster list failed: ${r.stderr.trim().slice(0, 200)}`;
    const list = JSON.parse(r.stdout) as { name: string; status: string }[];
    const want = this.expected();
    const seen = list.map((m) => `${m.name}:${m.status}`).join(" ");
    if (list.length !== want.size) return `lists ${seen}`;
    for (const m of list) {
      if (!want.has(m.name)) return `lists ${seen}`;
      if (want.get(m.name) && m.status !== "ONLINE") return `lists ${seen}`;
    }
    return undefined;
  }

  /** Waits until a serving member (in turn) lists what is expected; records a failure if not. */
  async converged(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    let why = "";
    let turn = this.actions;
    while (Date.now() < deadline) {
      const up = this.slots.filter((s) => s.state === "up" && s.name);
      const slot = up[turn++ % up.length];
      why = (await this.listsExpected(slot)) ?? "";
      if (!why) return true;
      why = `${slot.name}: ${why}`;
      await sleep(3000);
    }
    this.fail(`not converged within ${ms / 1000} s: ${why}`);
    return false;
  }

  /** At the end: every serving member lists what is expected (within 60 s). */
  async fullCheck(): Promise<void> {
    for (const s of this.slots.filter((s) => s.state === "up" && s.name)) {
      const deadline = Date.now() + 60_000;
      let why: string | undefined = "";
      while (Date.now() < deadline && (why = await this.listsExpected(s))) await sleep(3000);
      if (why) this.fail(`final check on ${s.name}: ${why}`);
    }
  }

  /** Stops every daemon (SIGTERM, then SIGKILL) and removes the state directories. */
  async stopAll(): Promise<void> {
    this.resumeAll();
    await Promise.all(this.slots.map((s) => this.stop(s, "SIGTERM")));
    for (const s of this.slots) removeDir(s.dir);
  }
}

/**
 * HashiCorp serf agents (Debian's `serf`) in the namespaces of a {@link FaultNet}, the yardstick
 * of the loss scenarios: agent `i` binds `<node ip>:7946` (gossip, UDP and TCP) and its RPC to
 * `127.0.0.1:7373` inside its own namespace, with the same timing profile as cohort's preset of
 * the same name. Every log line is stamped on arrival (serf's own stamps have 1 s precision).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import type { FaultNet } from "./netns.ts";

/** The gossip port of every agent. */
export const SERF_PORT = 7946;
const RPC = "127.0.0.1:7373";

/** One agent process and its stamped log lines. */
interface Agent {
  name: string;
  child: ChildProcess;
  lines: { time: number; text: string }[];
  exited: Promise<void>;
}

/** What a serf log line says about membership, if anything. */
export interface SerfEvent {
  time: number;
  /** `suspect` (this agent's probe failed: "Suspect X has failed"), `failed`, `join`. */
  event: "suspect" | "failed" | "join";
  member: string;
}

/** serf agents, one per node. */
export class SerfAgents {
  readonly net: FaultNet;
  readonly profile: "lan" | "local";
  readonly agents: Agent[] = [];

  constructor(net: FaultNet, profile: "lan" | "local" = "lan") {
    this.net = net;
    this.profile = profile;
  }

  /** Agent names (`s<i>`). */
  names(): string[] {
    return this.net.nodes.map((n) => `s${n.index}`);
  }

  #start(i: number): void {
    const node = this.net.nodes[i];
    const args = [
      "agent",
      `-node=s${i}`,
      `-bind=${node.ip}:${SERF_PORT}`,
      `-rpc-addr=${RPC}`,
      `-profile=${this.profile}`,
      "-log-level=info",
    ];
    if (i > 0) args.push(`-join=${this.net.nodes[0].ip}:${SERF_PORT}`);
    const { command, args: full } = this.net.command(i, "serf", args);
    const child = spawn(command, full, { stdio: ["ignore", "pipe", "pipe"] });
    const agent: Agent = {
      name: `s${i}`,
      child,
      lines: [],
      exited: new Promise((done) => child.once("close", () => done())),
    };
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = "";
      stream.on("data", (d: Buffer) => {
        const time = Date.now();
        const parts = (rest + d.toString()).split("\n");
        rest = parts.pop()!;
        for (const text of parts) {
          if (/EventMember|Suspect|Marking|Refuting/.test(text)) agent.lines.push({ time, text });
        }
      });
    }
    this.agents[i] = agent;
  }

  /** `serf members` of agent `i`: name → status. */
  members(i: number): Map<string, string> {
    const r = this.net.exec(i, "serf", ["members", `-rpc-addr=${RPC}`, "-format=json"], 5000);
    const out = new Map<string, string>();
    if (!r.ok) return out;
    try {
      for (const m of JSON.parse(r.out).members as { name: string; status: string }[]) {
        out.set(m.name, m.status);
      }
    } catch { /* not up yet */ }
    return out;
  }

  /** Starts every agent (all but the first join the first) and waits until all see all alive. */
  async form(timeoutMs = 60_000): Promise<void> {
    this.#start(0);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 1; i < this.net.nodes.length; i++) this.#start(i);
    const deadline = Date.now() + timeoutMs;
    const n = this.net.nodes.length;
    while (Date.now() < deadline) {
      let ok = true;
      for (let i = 0; i < n && ok; i++) {
        const m = this.members(i);
        ok = [...m.values()].filter((s) => s === "alive").length === n;
      }
      if (ok) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`serf agents did not converge on ${n} alive members in ${timeoutMs} ms`);
  }

  /** Membership events agent `i` logged since `since`. */
  events(i: number, since = 0): SerfEvent[] {
    const out: SerfEvent[] = [];
    for (const { time, text } of this.agents[i]?.lines ?? []) {
      if (time < since) continue;
      let m = /Suspect (\S+) has failed/.exec(text);
      if (m) out.push({ time, event: "suspect", member: m[1] });
      m = /EventMemberFailed: (\S+)/.exec(text);
      if (m) out.push({ time, event: "failed", member: m[1] });
      m = /EventMemberJoin: (\S+)/.exec(text);
      if (m) out.push({ time, event: "join", member: m[1] });
    }
    return out;
  }

  /** Stops every agent (SIGTERM, SIGKILL after 5 s), by PID. */
  async close(): Promise<void> {
    await Promise.all(this.agents.map(async (a) => {
      if (!a || a.child.exitCode !== null || a.child.signalCode !== null) return;
      process.kill(a.child.pid!, "SIGTERM");
      const timer = setTimeout(() => {
        try {
          process.kill(a.child.pid!, "SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await a.exited;
      clearTimeout(timer);
    }));
  }
}

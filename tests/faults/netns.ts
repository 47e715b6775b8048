/**
 * A private network for the fault matrix: one network namespace per node, each with its own
 * IPv4 address on a veth pair whose other end is plugged into a bridge in a hub namespace of
 * its own, and an nftables table per node that drops what a scenario asks: whole partitions,
 * one-way partitions and random loss (`numgen random mod 100 < P drop`; netem is not available).
 *
 * Nothing is created in the caller's namespace: two runs each have a hub and nodes of their own
 * (names carry the owner's PID and a random tag), so their addresses may coincide without
 * colliding. Every namespace is deleted by {@link FaultNet.destroy}, by the exit actions of
 * `cleanup.ts` when the process dies first, and, after a SIGKILL, by the next run's sweep of
 * namespaces whose owner PID is gone.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { forget, onExit } from "./cleanup.ts";
import { sh } from "./system.ts";

/** Every namespace name of the harness starts with this, then `<pid base 36>-<tag>-`. */
export const PREFIX = "cohortf";
const SUBNET = "10.77.0";
const TABLE = "cohortf";

/** One node: its namespace and address. */
export interface NetNode {
  readonly index: number;
  /** Network namespace name (run commands inside with {@link FaultNet.command}). */
  readonly ns: string;
  /** IPv4 address on the bridge, e.g. `10.77.0.10`. */
  readonly ip: string;
}

/** The rules in force on one node. */
interface NodeRules {
  /** Sources whose packets this node drops on input. */
  blocked: Set<number>;
  /** Percentage of packets from the subnet dropped on input (0 to 100). */
  loss: number;
}

function run(args: string[], input?: string): string {
  const r = sh(args[0], args.slice(1), input);
  if (!r.ok) throw new Error(`${args.join(" ")} failed: ${r.err.trim()}`);
  return r.out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

/** Kills (SIGKILL, by PID) every process inside `ns`, then deletes it. Synchronous. */
function removeNamespace(ns: string): void {
  const pids = sh("ip", ["netns", "pids", ns]).out.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone already */ }
  }
  sh("ip", ["netns", "del", ns]);
}

/** Whether `name` carries the harness prefix of a run whose owner process is gone. */
function stale(name: string): boolean {
  const m = new RegExp(`^${PREFIX}([0-9a-z]+)-`).exec(name);
  if (!m) return false;
  const owner = parseInt(m[1], 36);
  return owner !== process.pid && !pidAlive(owner);
}

/**
 * Deletes what earlier runs whose owner process is gone (a run killed with SIGKILL) left: their
 * namespaces, with the processes still inside them, and their state directories in the
 * temporary folder. What live runs own is left alone.
 */
export function sweepStale(): string[] {
  const names = sh("ip", ["netns", "list"]).out.split("\n").map((l) => l.split(" ")[0]);
  const swept: string[] = [];
  for (const ns of names.filter(stale)) {
    removeNamespace(ns);
    swept.push(ns);
  }
  for (const entry of readdirSync(tmpdir()).filter(stale)) {
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    swept.push(entry);
  }
  return swept;
}

/** Namespaces of this harness that exist now (for leak checks). */
export function harnessNamespaces(): string[] {
  return sh("ip", ["netns", "list"]).out.split("\n").map((l) => l.split(" ")[0])
    .filter((ns) => ns.startsWith(PREFIX));
}

/** N nodes on one bridge, with fault rules. Create with {@link FaultNet.create}. */
export class FaultNet {
  /** Unique per run and net: `<PREFIX><pid base 36>-<random hex>`. */
  readonly id: string;
  readonly hub: string;
  readonly nodes: readonly NetNode[];
  readonly #rules: NodeRules[];
  #exitAction: number | undefined;
  #destroyed = false;

  private constructor(size: number) {
    this.id = `${PREFIX}${process.pid.toString(36)}-${randomBytes(3).toString("hex")}`;
    this.hub = `${this.id}-hub`;
    this.nodes = Array.from({ length: size }, (_, index) => ({
      index,
      ns: `${this.id}-n${index}`,
      ip: `${SUBNET}.${10 + index}`,
    }));
    this.#rules = this.nodes.map(() => ({ blocked: new Set<number>(), loss: 0 }));
  }

  /**
   * Creates `size` nodes (1 to 200) and checks that each can reach the bridge. Sweeps stale
   * namespaces of dead runs first. On failure everything created so far is removed.
   */
  static create(size: number): FaultNet {
    if (!Number.isInteger(size) || size < 1 || size > 200) {
      throw new RangeError(`FaultNet size must be an integer from 1 to 200, got ${size}`);
    }
    sweepStale();
    const net = new FaultNet(size);
    net.#exitAction = onExit(() => net.#removeAll());
    try {
      net.#build();
    } catch (err) {
      net.destroy();
      throw err;
    }
    return net;
  }

  #build(): void {
    run(["ip", "netns", "add", this.hub]);
    run(["ip", "-n", this.hub, "link", "add", "br0", "type", "bridge"]);
    run(["ip", "-n", this.hub, "link", "set", "br0", "up"]);
    for (const node of this.nodes) {
      const veth = `v${node.index}`;
      run(["ip", "netns", "add", node.ns]);
      run([
        "ip",
        "-n",
        this.hub,
        "link",
        "add",
        veth,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        node.ns,
      ]);
      run(["ip", "-n", this.hub, "link", "set", veth, "master", "br0", "up"]);
      run(["ip", "-n", node.ns, "link", "set", "lo", "up"]);
      run(["ip", "-n", node.ns, "addr", "add", `${node.ip}/24`, "dev", "eth0"]);
      run(["ip", "-n", node.ns, "link", "set", "eth0", "up"]);
      this.#apply(node.index);
    }
  }

  /** The command line that runs `command args…` inside node `i`'s namespace (same PID). */
  command(i: number, command: string, args: string[]): { command: string; args: string[] } {
    return { command: "ip", args: ["netns", "exec", this.nodes[i].ns, command, ...args] };
  }

  /** Runs a command inside node `i`'s namespace to completion. */
  exec(i: number, command: string, args: string[], timeoutMs = 30_000) {
    return sh("ip", ["netns", "exec", this.nodes[i].ns, command, ...args], undefined, timeoutMs);
  }

  /**
   * Splits the nodes into `groups` (indices): packets between groups are dropped both ways
   * (silently: no refusal, as on a cut link). Nodes in no group keep talking to everyone.
   * Replaces any earlier partition; loss stays.
   */
  partition(groups: readonly (readonly number[])[]): void {
    for (const r of this.#rules) r.blocked.clear();
    for (const [g, group] of groups.entries()) {
      for (const [h, other] of groups.entries()) {
        if (g === h) continue;
        for (const i of group) for (const j of other) this.#rules[i].blocked.add(j);
      }
    }
    this.nodes.forEach((n) => this.#apply(n.index));
  }

  /**
   * A one-way partition: every packet from `from` to `to` is dropped at `to`, packets from
   * `to` to `from` still arrive ("from hears to, to does not hear from"). Adds to the rules.
   */
  oneWay(from: number, to: number): void {
    this.#rules[to].blocked.add(from);
    this.#apply(to);
  }

  /** Drops `percent` % (0 to 100) of the packets every node receives from the others. */
  loss(percent: number): void {
    if (!(percent >= 0 && percent <= 100)) throw new RangeError("loss must be 0 to 100");
    for (const r of this.#rules) r.loss = Math.round(percent);
    this.nodes.forEach((n) => this.#apply(n.index));
  }

  /** Removes every partition and all loss. */
  heal(): void {
    for (const r of this.#rules) {
      r.blocked.clear();
      r.loss = 0;
    }
    this.nodes.forEach((n) => this.#apply(n.index));
  }

  /** Packets dropped so far by node `i`'s rules (from the nftables counters). */
  dropped(i: number): number {
    const out = sh("ip", ["netns", "exec", this.nodes[i].ns, "nft", "list", "table", "inet", TABLE])
      .out;
    let total = 0;
    for (const m of out.matchAll(/counter packets (\d+) bytes \d+ drop/g)) total += Number(m[1]);
    return total;
  }

  /** Node `i`'s table, replaced atomically in one `nft -f` transaction. */
  #apply(i: number): void {
    const r = this.#rules[i];
    const lines = [];
    if (r.blocked.size) {
      const srcs = [...r.blocked].sort((a, b) => a - b).map((j) => this.nodes[j].ip).join(", ");
      lines.push(`    ip saddr { ${srcs} } counter drop`);
    }
    if (r.loss > 0) {
      lines.push(`    ip saddr ${SUBNET}.0/24 numgen random mod 100 < ${r.loss} counter drop`);
    }
    const text = [
      `table inet ${TABLE} {}`,
      `delete table inet ${TABLE}`,
      `table inet ${TABLE} {`,
      "  chain input {",
      "    type filter hook input priority 0; policy accept;",
      ...lines,
      "  }",
      "}",
      "",
    ].join("\n");
    run(["ip", "netns", "exec", this.nodes[i].ns, "nft", "-f", "-"], text);
  }

  #removeAll(): void {
    for (const node of this.nodes) removeNamespace(node.ns);
    removeNamespace(this.hub);
  }

  /**
   * Kills (SIGKILL) whatever still runs in the nodes' namespaces and deletes them with their
   * tables, veth pairs and bridge. Stop processes gracefully before, if that matters.
   * Idempotent.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#removeAll();
    if (this.#exitAction !== undefined) forget(this.#exitAction);
  }
}

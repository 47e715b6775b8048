/**
 * The operator's actions in the soak benchmark (`soak.ts`), drawn by weight from a seeded
 * generator. Each runs through the CLI (or a signal, where an operator uses one), records a
 * failure on the cluster when a command that should work did not, and says what it did.
 */
import { setTimeout as sleep } from "node:timers/promises";
import process from "node:process";
import { removeDir } from "../../tests/helpers/process.ts";
import type { Cluster, Slot } from "./soak_cluster.ts";

/** One drawn action: `run` does it and returns a line for the log. */
export interface Action {
  name: string;
  run(): Promise<string>;
}

/** Tokens issued and not yet used or revoked, by name (the operator's notebook). */
const pending: string[] = [];
let versions = 0;
let paused: Slot | undefined;

/** Draws the next action for `cluster` from `random` (see the module docs for the mix). */
export function pickAction(cluster: Cluster, random: () => number): Action {
  const up = cluster.slots.filter((s) => s.state === "up" && s.name);
  const others = up.filter((s) => s.index !== 1);
  const any = () => up[Math.floor(random() * up.length)];
  const other = () => others[Math.floor(random() * others.length)];
  const table: [number, () => Action | undefined][] = [
    [3, () => tokenAdd(cluster, any(), random)],
    [2, () => (pending.length ? tokenRevoke(cluster, any(), random) : undefined)],
    [2, () => appVersion(cluster, any())],
    [2, () => (others.length ? restart(cluster, other(), "SIGTERM") : undefined)],
    [2, () => (others.length ? restart(cluster, other(), "SIGKILL") : undefined)],
    [1, () => (others.length && !paused ? pause(other()) : undefined)],
    [2, () => (others.length > 1 ? removeRejoin(cluster, other(), up) : undefined)],
    [1, () => (others.length > 1 ? forceReplace(cluster, other(), up) : undefined)],
  ];
  const total = table.reduce((s, [w]) => s + w, 0);
  for (;;) {
    let r = random() * total;
    for (const [w, make] of table) {
      if ((r -= w) >= 0) continue;
      const action = make();
      if (action) {
        cluster.counts.set(action.name, (cluster.counts.get(action.name) ?? 0) + 1);
        return action;
      }
      break;
    }
  }
}

function tokenAdd(cluster: Cluster, on: Slot, random: () => number): Action {
  return {
    name: "tokens add",
    async run() {
      const name = `t${Math.floor(random() * 1e9)}`;
      const r = await cluster.must(on, ["tokens", "add", name, "--expire-after", "1h"]);
      if (r.code === 0) pending.push(name);
      return `tokens add ${name} on ${on.name}`;
    },
  };
}

function tokenRevoke(cluster: Cluster, on: Slot, random: () => number): Action {
  const name = pending.splice(Math.floor(random() * pending.length), 1)[0];
  return {
    name: "tokens revoke",
    async run() {
      await cluster.must(on, ["tokens", "revoke", name]);
      return `tokens revoke ${name} on ${on.name}`;
    },
  };
}

function appVersion(cluster: Cluster, on: Slot): Action {
  return {
    name: "app-version",
    async run() {
      const v = `1.${++versions}.0`;
      await cluster.must(on, ["app-version", v]);
      return `app-version ${v} on ${on.name}`;
    },
  };
}

function restart(cluster: Cluster, slot: Slot, signal: "SIGTERM" | "SIGKILL"): Action {
  return {
    name: `restart ${signal}`,
    async run() {
      await cluster.stop(slot, signal);
      await cluster.start(slot);
      await cluster.must(slot, ["waitready"]);
      return `restart ${slot.name} with ${signal}`;
    },
  };
}

/** SIGSTOP for 20 s; the loop goes on meanwhile, as the operator's does. */
function pause(slot: Slot): Action {
  return {
    name: "SIGSTOP 20 s",
    run() {
      paused = slot;
      slot.state = "paused";
      process.kill(slot.pid!, "SIGSTOP");
      setTimeout(() => {
        if (slot.state === "paused") {
          process.kill(slot.pid!, "SIGCONT");
          slot.state = "up";
        }
        paused = undefined;
      }, 20_000);
      return Promise.resolve(`SIGSTOP ${slot.name} for 20 s`);
    },
  };
}

/** `cluster remove` through another member, then the reset daemon joins under a new name. */
function removeRejoin(cluster: Cluster, slot: Slot, up: Slot[]): Action {
  const via = up.find((s) => s !== slot)!;
  return {
    name: "remove + join",
    async run() {
      const old = slot.name;
      const r = await cluster.must(via, ["cluster", "remove", old]);
      if (r.code !== 0) return `cluster remove ${old} on ${via.name}: refused`;
      slot.name = "";
      // The removed daemon resets itself after answering; a join before that is refused.
      for (let i = 0; i < 20; i++) {
        const list = await cluster.cli(slot, ["cluster", "list"]);
        if (/not (yet )?initiali[sz]ed/i.test(list.stderr)) break;
        await sleep(1000);
      }
      await cluster.join(slot, via);
      return `cluster remove ${old} on ${via.name}, joined as ${slot.name || "(failed)"}`;
    },
  };
}

/** The member stops, is removed with --force, and a fresh daemon takes its address. */
function forceReplace(cluster: Cluster, slot: Slot, up: Slot[]): Action {
  const via = up.find((s) => s !== slot)!;
  return {
    name: "remove --force + replace",
    async run() {
      const old = slot.name;
      await cluster.stop(slot, "SIGTERM");
      const r = await cluster.must(via, ["cluster", "remove", old, "--force"]);
      if (r.code !== 0) {
        await cluster.start(slot);
        return `cluster remove --force ${old}: refused, restarted it`;
      }
      slot.name = "";
      // A replaced machine: a fresh state directory at the same address.
      removeDir(slot.dir);
      await cluster.start(slot);
      await cluster.join(slot, via);
      return `stopped ${old}, removed with --force on ${via.name}, replaced by ${slot.name}`;
    },
  };
}

/**
 * Last-resort cleanup for the fault harness: synchronous undo actions (kill a process by PID,
 * delete a namespace, remove a directory) that run on every way out of the process, a normal
 * exit, an uncaught error, SIGINT, SIGTERM or SIGHUP, in the reverse order of registration.
 *
 * The harness undoes everything itself on the normal path (`FaultNet.destroy`, stopping
 * daemons); these actions only catch what an interrupted or crashed run left behind. A run
 * killed with SIGKILL cannot run them: the next run sweeps its namespaces (see `netns.ts`).
 *
 * @module
 */
import process from "node:process";

const actions = new Map<number, () => void>();
let nextId = 1;
let installed = false;

function runAll(): void {
  const pending = [...actions.entries()].reverse();
  actions.clear();
  for (const [, action] of pending) {
    try {
      action();
    } catch {
      // Best effort: one failed undo must not stop the others.
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      runAll();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

/**
 * Registers a synchronous undo action that runs if the process exits before
 * {@link forget} is called with the returned id.
 */
export function onExit(action: () => void): number {
  install();
  const id = nextId++;
  actions.set(id, action);
  return id;
}

/** Drops an undo action that the normal path has done already. */
export function forget(id: number): void {
  actions.delete(id);
}

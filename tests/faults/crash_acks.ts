/**
 * The points of a member's trace (`crash_trace.ts`) where it told someone a step was done: its
 * answer to a request that changes something (any method but GET and HEAD) on its control socket
 * (a CLI command, an API client), and the log line of a durable step that a restart keeps
 * (`lib/daemon/flows/order.ts` names each step's line: "Admitted a new member" is all a joiner's
 * admission leaves outside the admitting member, whose answer goes over TLS). Also follows which members it must still
 * list after a crash: those it logged as admitted and was not since asked to remove.
 *
 * @module
 */
import { DURABLE_STEPS } from "../../lib/daemon/flows/order.ts";
import type { Timed } from "./crash_trace.ts";

/**
 * `"msg" field=a|b` of each durable step's line, parsed; only the steps a restart keeps: a line
 * logged on the way to a step a restart takes back (`undo`, `withdraw`: the join's "Listening",
 * logged while its files are still being synced) tells nobody that anything is done.
 */
const STEP_LINES = DURABLE_STEPS.filter((s) => !/^(undo|withdraw)/.test(s.restart)).flatMap((s) => {
  const m = s.line && /^"([^"]+)"(?: (\w+)=(\S+))?$/.exec(s.line);
  return m ? [{ msg: m[1], field: m[2], values: m[3]?.split("|") }] : [];
});

/** Follows one member's trace for its answers and logged steps. */
export class Answers {
  /** The request line last read on each control-socket connection (by its local inode). */
  private requests = new Map<string, string>();
  /** The members it logged as admitted and was not asked to remove since. */
  readonly admitted = new Set<string>();
  private socket: string;

  constructor(dir: string) {
    this.socket = `"${dir}/control.socket"`;
  }

  /** What `op` told someone is done (`POST /core/control (200)`, `log "…"`), or `undefined`. */
  see(op: Timed): string | undefined {
    if (op.kind === "receive" && op.peer.includes(this.socket)) {
      const line = /^([A-Z]+ \S+) HTTP\/1\.[01]\r\n/.exec(op.data.toString("latin1"));
      if (line) this.requests.set(connection(op.peer), line[1].split("?")[0]);
      return undefined;
    }
    if (op.kind !== "send") return undefined;
    if (op.peer.includes(this.socket)) {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(op.data.toString("latin1"))?.[1];
      // One request per connection (`Connection: close`); a socket's inode is soon used again.
      const request = this.requests.get(connection(op.peer));
      this.requests.delete(connection(op.peer));
      if (!status?.startsWith("2") || !request || /^(GET|HEAD) /.test(request)) return undefined;
      const removed = /^DELETE \/core\/1\.0\/cluster\/([^/?]+)$/.exec(request);
      if (removed) this.admitted.delete(decodeURIComponent(removed[1]));
      return `${request} (${status})`;
    }
    if (op.fd !== 2) return undefined;
    for (const text of op.data.toString("utf8").split("\n")) {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text);
      } catch {
        continue;
      }
      if (line.msg === "Admitted a new member") this.admitted.add(String(line.name));
      const step = STEP_LINES.find((s) =>
        s.msg === line.msg && (!s.field || s.values!.includes(String(line[s.field])))
      );
      if (step) return `log "${line.msg}"${step.field ? ` ${step.field}=${line[step.field]}` : ""}`;
    }
    return undefined;
  }
}

/** A unix socket connection's local inode, from strace's `UNIX-STREAM:[local->peer,"path"]`. */
function connection(peer: string): string {
  return /^UNIX-STREAM:\[(\d+)/.exec(peer)?.[1] ?? peer;
}

/**
 * The member's recent events, as an operator reads them: joins, failures, departures, upgrades
 * opened, refused attempts, phase changes. A bounded list, newest last, each with its time.
 *
 * @module
 */
import type { MemberEvent, MemberInfo } from "../cluster/membership.ts";

/** What happened, in one word. */
export type StatusEventKind =
  | "join"
  | "rejoin"
  | "suspect"
  | "alive"
  | "failed"
  | "left"
  | "update"
  | "removed"
  | "admitted"
  | "refused"
  | "bootstrap"
  | "joined"
  | "phase"
  | "upgrade"
  | "extensions";

/** One event. */
export interface StatusEvent {
  /** Sequence number, increasing. */
  id: number;
  /** RFC 3339. */
  time: string;
  kind: StatusEventKind;
  /** The member it is about, when one. */
  member?: string;
  /** One sentence. */
  message: string;
}

/** How many events are kept. */
export const EVENT_LOG_SIZE = 100;

/** A bounded log of {@link StatusEvent}s. */
export class EventLog {
  readonly #events: StatusEvent[] = [];
  #next = 1;
  /** Metadata last seen per member, to tell what an update changed. */
  readonly #meta = new Map<string, MemberInfo["meta"]>();

  /** Appends an event. */
  add(kind: StatusEventKind, message: string, member?: string): StatusEvent {
    const event: StatusEvent = {
      id: this.#next++,
      time: new Date().toISOString(),
      kind,
      ...(member !== undefined ? { member } : {}),
      message,
    };
    this.#events.push(event);
    if (this.#events.length > EVENT_LOG_SIZE) this.#events.shift();
    return event;
  }

  /** The events kept, oldest first (a copy). */
  list(): StatusEvent[] {
    return [...this.#events];
  }

  /**
   * Logs a gossip membership event (`member-join`, …); returns whether it was news (a refreshed
   * incarnation with nothing changed is not).
   */
  member(name: string, { member, previous }: MemberEvent): boolean {
    const before = this.#meta.get(member.name);
    this.#meta.set(member.name, member.meta);
    const who = member.name;
    switch (name) {
      case "member-join":
        if (previous === undefined) this.add("join", `${who} joined`, who);
        else this.add("rejoin", `${who} is back (was ${previous})`, who);
        return true;
      case "member-suspect":
        this.add("suspect", `${who} is suspected: it missed its probes`, who);
        return true;
      case "member-failed":
        this.add("failed", `${who} failed: no answer, declared dead`, who);
        return true;
      case "member-left":
        this.add("left", `${who} left`, who);
        return true;
      case "member-update": {
        if (previous === "suspect") {
          this.add("alive", `${who} refuted the suspicion`, who);
          return true;
        }
        const changes = before ? describeChanges(before, member.meta) : [];
        if (changes.length === 0) return false;
        this.add("update", `${who} changed: ${changes.join(", ")}`, who);
        return true;
      }
    }
    return false;
  }
}

function describeChanges(a: MemberInfo["meta"], b: MemberInfo["meta"]): string[] {
  const out: string[] = [];
  if (a.appVersion !== b.appVersion) out.push(`app version ${a.appVersion} → ${b.appVersion}`);
  if (a.role !== b.role) out.push(`role ${a.role} → ${b.role}`);
  if (a.schemaInternal !== b.schemaInternal || a.schemaExternal !== b.schemaExternal) {
    out.push(
      `schema ${a.schemaInternal}/${a.schemaExternal} → ${b.schemaInternal}/${b.schemaExternal}`,
    );
  }
  if (a.extensionDigest !== b.extensionDigest) {
    out.push(`extensions ${a.extensionCount} → ${b.extensionCount}`);
  }
  if (a.address !== b.address) out.push(`address ${a.address} → ${b.address}`);
  return out;
}

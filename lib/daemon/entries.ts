/**
 * `GET /core/1.0/cluster` entries, answered from memory: the view's roster with each member's
 * settled role, counted versions, liveness, app version and refused start.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { compareVersions, type MemberVersion } from "../cluster/compat.ts";
import type { Role } from "../cluster/roles.ts";
import { refusalOf } from "./refusals.ts";
import type { ClusterMemberEntry } from "./service.ts";
import type { ClusterView } from "./view.ts";

/** RFC 3339 for a heartbeat in ms since the epoch; Go's zero time for "never". */
export function heartbeatTime(ms: number): string {
  if (!(ms > 0)) return "0001-01-01T00:00:00Z";
  // `toISOString` of the same second, with the milliseconds put in: a list request formats
  // this member's heartbeat (now) every time, and a Date and its formatting cost more than
  // the rest of the row's refresh.
  const whole = Math.trunc(ms);
  const second = whole - (whole % 1000);
  if (second !== isoSecond) {
    isoPrefix = new Date(second).toISOString().slice(0, -4); // up to the "." before the ms
    isoSecond = second;
  }
  const milli = whole - second;
  return isoPrefix + (milli < 10 ? "00" : milli < 100 ? "0" : "") + milli + "Z";
}

/** The second {@link heartbeatTime} formatted last (ms), and its text up to the milliseconds. */
let isoSecond = NaN;
let isoPrefix = "";

/** What {@link listEntries} reads besides the view. */
export interface EntrySources {
  view: ClusterView;
  roles: ReadonlyMap<string, Role>;
  /** This member's app version. */
  appVersion: string;
  /** Whether this member serves (online); while it waits, members at its versions are UPGRADING. */
  selfOnline: boolean;
  /** Now, ms since the epoch (this member's heartbeat). */
  now: number;
}

/** The entries, sorted by name; see the module docs. */
export function listEntries(s: EntrySources): ClusterMemberEntry[] {
  const { view } = s;
  const local = view.local;
  // During an upgrade every member labels the others alike: the newest versions any member
  // runs are the target; members with it are UPGRADING and members without it NEEDS UPGRADE,
  // as seen from a waiting member and from one that has not upgraded yet. Only a member that
  // runs the target and serves shows the members with it ONLINE (they serve too).
  const versions = [...view.roster().keys()].map((n) => view.versionOf(n));
  let target: MemberVersion = local;
  for (const v of versions) if (v && compareVersions(target, v).verdict === "behind") target = v;
  const upgrading = versions.some((v) => v && compareVersions(target, v).verdict !== "equal");
  const atTargetServing = s.selfOnline && compareVersions(target, local).verdict === "equal";
  const live = (version: MemberVersion | undefined) => {
    if (!upgrading || !version) return s.selfOnline ? "ONLINE" : "UPGRADING";
    if (compareVersions(target, version).verdict !== "equal") return "NEEDS UPGRADE";
    return atTargetServing ? "ONLINE" : "UPGRADING";
  };
  const out: ClusterMemberEntry[] = [];
  for (const [name, entry] of view.roster()) {
    const self = name === view.name;
    const info = self ? undefined : view.gossip.member(name);
    const meta = info?.meta;
    const version = view.versionOf(name);
    const comparison = version ? compareVersions(local, version) : undefined;
    let status = "UNREACHABLE";
    if (self) status = live(version);
    else if (info?.state === "suspect") status = "SUSPECT";
    else if (info?.state === "alive") status = live(version);
    const refused = refusalOf(entry);
    out.push({
      name,
      address: entry.address,
      certificate: entry.certificate,
      fingerprint: entry.fingerprint,
      role: s.roles.get(name) ?? "PENDING",
      schema_internal_version: version?.schemaInternal ?? meta?.schemaInternal ?? 0,
      schema_external_version: version?.schemaExternal ?? meta?.schemaExternal ?? 0,
      last_heartbeat: heartbeatTime(
        self ? s.now : info?.lastHeartbeat || view.storedHeartbeat(name),
      ),
      status,
      extensions: [...(version?.extensions ?? [])],
      extension_verdict: comparison
        ? {
          verdict: comparison.extensions.verdict,
          missing: comparison.extensions.missing,
          extra: comparison.extensions.extra,
        }
        : { verdict: "unknown", missing: [], extra: [] },
      app_version: self ? s.appVersion : meta?.appVersion ?? "",
      ...(refused ? { start_refused: refused } : {}),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The longest a kept list is served without a rebuild, ms. Every change a row shows comes with a
 * view change (which rebuilds the list at once: joins, removals, suspicions, verdicts, metadata
 * and extension lists) or is checked on every answer (settled roles, this member's versions,
 * app version and serving state, heartbeats); this bound is for what the gossip layer forgets
 * silently: a member dead for its reconnect timeout is reaped and its metadata goes with it.
 * At 1 s, a client polling once a second had every answer rebuilt (at N=50, about half a
 * millisecond of serialising rows with their certificates).
 */
export const ENTRIES_MAX_AGE_MS = 60_000;

/** Options of {@link EntryList}. */
export interface EntryListOptions {
  /**
   * Encodes text as UTF-8. Injected by tests to count what is encoded per answer.
   * @default TextEncoder's `encode`
   */
  encode?: (text: string) => Uint8Array;
}

/**
 * The member's one list of entries, maintained rather than rebuilt per request: built by
 * {@link listEntries} after a view change (see {@link EntryList.invalidate}), when the settled
 * roles, this member's versions, app version or serving state changed, or after
 * {@link ENTRIES_MAX_AGE_MS}; in between, an answer only refreshes each row's last heartbeat
 * (in the kept rows' bytes too: {@link EntryList.utf8}).
 * `GET /core/1.0/cluster`, persistence, the status page and the metrics all read it.
 */
export class EntryList {
  #rows?: ClusterMemberEntry[];
  /** Each kept row's UTF-8 JSON, split where its heartbeat goes (built on the first `utf8`). */
  #parts?: [Uint8Array, Uint8Array][];
  /** The others' heartbeats (ms) in the kept bytes, by row, and each as JSON bytes. */
  #beats?: number[];
  #beatBytes?: Uint8Array[];
  /** The answer's bytes before and after this member's own row, kept while `#beats` hold. */
  #around?: [Uint8Array, Uint8Array];
  #built?: {
    roles: ReadonlyMap<string, Role>;
    local: MemberVersion;
    appVersion: string;
    selfOnline: boolean;
    at: number;
  };
  readonly #encode: (text: string) => Uint8Array;

  constructor(options: EntryListOptions = {}) {
    const encoder = new TextEncoder();
    this.#encode = options.encode ?? ((text) => encoder.encode(text));
  }

  /** Drops the kept list: the next {@link EntryList.get} rebuilds it. */
  invalidate(): void {
    this.#rows = undefined;
  }

  /** The entries, sorted by name (fresh row objects: a caller may change its copy). */
  get(s: EntrySources): ClusterMemberEntry[] {
    if (this.#refresh(s)) return this.#rows!.map((r) => ({ ...r }));
    return this.#rows!.map((r) => ({ ...r, last_heartbeat: heartbeatOf(r.name, s) }));
  }

  /**
   * The entries as {@link EntryList.get} gives them, as the UTF-8 bytes of their JSON array
   * (`JSON.stringify`'s text), in chunks to be sent in order. Each kept row is serialised and
   * encoded once; an answer only encodes this member's own heartbeat, and splices in the others'
   * when one moved. Serialising 50 rows with their certificates cost more than the rest of a
   * request, and so did encoding the 50 KB of text every answer (about 0.1 ms at N=50).
   */
  utf8(s: EntrySources): Uint8Array[] {
    if (this.#refresh(s)) this.#around = undefined;
    const rows = this.#rows!;
    const encode = this.#encode;
    if (!this.#parts) {
      this.#parts = rows.map((r) => {
        const text = JSON.stringify({ ...r, last_heartbeat: MARK });
        const at = text.indexOf(MARK_JSON);
        return [encode(text.slice(0, at)), encode(text.slice(at + MARK_JSON.length))];
      });
      this.#beats = rows.map(() => -1);
      this.#beatBytes = rows.map(() => EMPTY);
      this.#around = undefined;
    }
    // Between changes the others' heartbeats mostly stand still (a member hears from a couple
    // of members a second): the bytes around this member's own row (its heartbeat is now) are
    // kept until one of them moves.
    const self = rows.findIndex((r) => r.name === s.view.name);
    const beats = this.#beats!;
    const beatBytes = this.#beatBytes!;
    let moved = this.#around === undefined;
    for (let i = 0; i < rows.length; i++) {
      if (i === self) continue;
      const ms = heartbeatMs(rows[i].name, s);
      if (ms !== beats[i]) {
        beats[i] = ms;
        beatBytes[i] = encode(`"${heartbeatTime(ms)}"`);
        moved = true;
      }
    }
    const parts = this.#parts;
    if (moved) {
      const before: Uint8Array[] = [OPEN];
      const after: Uint8Array[] = [];
      for (let i = 0; i < rows.length; i++) {
        if (i === self) continue;
        const into = self < 0 || i < self ? before : after;
        if (into === after || before.length > 1) into.push(COMMA);
        into.push(parts[i][0], beatBytes[i], parts[i][1]);
      }
      after.push(CLOSE);
      this.#around = [Buffer.concat(before), Buffer.concat(after)];
    }
    const [before, after] = this.#around!;
    if (self < 0) return [before, after];
    const [head, tail] = parts[self];
    const beat = encode(`"${heartbeatTime(s.now)}"`);
    return self > 0 ? [before, COMMA, head, beat, tail, after] : [before, head, beat, tail, after];
  }

  /** Rebuilds the kept rows when they may be stale; reports whether it did. */
  #refresh(s: EntrySources): boolean {
    const b = this.#built;
    if (
      this.#rows && b && b.roles === s.roles && b.local === s.view.local &&
      b.appVersion === s.appVersion && b.selfOnline === s.selfOnline &&
      s.now - b.at <= ENTRIES_MAX_AGE_MS && s.now >= b.at
    ) return false;
    this.#rows = listEntries(s);
    this.#parts = undefined;
    this.#built = {
      roles: s.roles,
      local: s.view.local,
      appVersion: s.appVersion,
      selfOnline: s.selfOnline,
      at: s.now,
    };
    return true;
  }
}

const EMPTY = new Uint8Array(0);
const OPEN = new TextEncoder().encode("[");
const CLOSE = new TextEncoder().encode("]");
const COMMA = new TextEncoder().encode(",");

/** A heartbeat placeholder no row holds (names and addresses are validated; PEM is base64). */
const MARK = "\u0000heartbeat\u0000";
const MARK_JSON = JSON.stringify(MARK);

/** A row's current last heartbeat, as {@link listEntries} gives it. */
function heartbeatOf(name: string, s: EntrySources): string {
  return heartbeatTime(heartbeatMs(name, s));
}

/** A row's current last heartbeat in ms since the epoch (0: never). */
function heartbeatMs(name: string, s: EntrySources): number {
  const { view } = s;
  if (name === view.name) return s.now;
  const g = view.gossip;
  return (g.lastHeartbeat ? g.lastHeartbeat(name) : g.member(name)?.lastHeartbeat) ||
    view.storedHeartbeat(name);
}

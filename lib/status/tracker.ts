/**
 * The status page's source: one subscriber to the member's view (its gossip events, the
 * daemon's events, its joins) that keeps the recent events and the upgrade's progress, and
 * pushes a fresh {@link StatusSnapshot} to its subscribers (the event streams) shortly after
 * each change. While nothing changes it does nothing.
 *
 * @module
 */
import type { MemberEvent, MembershipEventName, MembershipView } from "../cluster/membership.ts";
import type { RecordChangeEvent } from "../cluster/replicated_record.ts";
import { MEMBER_RECORD } from "../cluster/roster.ts";
import type { MemberService, MemberStatus } from "../daemon/service.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { ServiceHooks } from "../metrics/observed_service.ts";
import { EventLog } from "./event_log.ts";
import { buildSnapshot, type StatusSnapshot } from "./snapshot.ts";
import { UpgradeWatch } from "./upgrade_watch.ts";

/** What the event-stream route reads. */
export interface StatusSource {
  /** The current snapshot. */
  snapshot(): Promise<StatusSnapshot>;
  /** Calls `listener` with a snapshot after each change; returns the function that stops it. */
  subscribe(listener: (snapshot: StatusSnapshot) => void): () => void;
  /** Calls `listener` once when the member stops (streams end then); returns an unsubscriber. */
  onClose(listener: () => void): () => void;
}

/** Options of {@link StatusTracker}. */
export interface StatusTrackerOptions {
  /** @default silentLogger */
  logger?: Logger;
  /** A rolling upgrade this member watched completed after `seconds`. */
  onUpgradeCompleted?: (seconds: number) => void;
  /** How long to let a burst of changes settle before a snapshot, ms. @default 50 */
  settleMs?: number;
  /** How often the member's phase is checked while someone watches, ms. @default 2000 */
  phaseCheckMs?: number;
}

const MEMBER_EVENTS = [
  "member-join",
  "member-update",
  "member-suspect",
  "member-failed",
  "member-left",
] as const satisfies readonly MembershipEventName[];

/** See the module docs. */
export class StatusTracker implements StatusSource {
  readonly #log = new EventLog();
  readonly #watch: UpgradeWatch;
  readonly #logger: Logger;
  readonly #settleMs: number;
  readonly #phaseCheckMs: number;
  readonly #listeners = new Set<(snapshot: StatusSnapshot) => void>();
  readonly #closers = new Set<() => void>();
  #service?: MemberService;
  #unwatch: (() => void)[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #phaseTimer?: ReturnType<typeof setInterval>;
  #phase?: MemberStatus;
  #closed = false;

  constructor(options: StatusTrackerOptions = {}) {
    this.#logger = options.logger ?? silentLogger;
    this.#settleMs = options.settleMs ?? 50;
    this.#phaseCheckMs = options.phaseCheckMs ?? 2000;
    this.#watch = new UpgradeWatch(this.#log, (s) => options.onUpgradeCompleted?.(s));
  }

  /** The member whose status this is. */
  bind(service: MemberService): void {
    this.#service = service;
    this.#phase = service.status();
  }

  /** Follows a (new) gossip view: the member's network (re)started. */
  watch(view: Pick<MembershipView, "on">): void {
    for (const off of this.#unwatch) off();
    this.#unwatch = [
      ...MEMBER_EVENTS.map((name) =>
        view.on(name, (event: MemberEvent) => {
          if (name === "member-join" && event.previous !== undefined) {
            this.#watch.cameBack(event.member.name);
          }
          if (this.#log.member(name, event)) this.#changed();
          else if (name === "member-update") this.#changed(); // versions fetched: verdicts move
        })
      ),
      view.on("record-change", ({ record, previous }: RecordChangeEvent) => {
        // The roster: a member record's tombstone is a removal; any change can move roles.
        if (record.kind !== MEMBER_RECORD) return;
        if (record.value === null && previous && previous.value !== null) {
          this.#log.add("removed", `${record.key} was removed from the cluster`, record.key);
        }
        this.#changed();
      }),
      view.on("extensions-mismatch", () => this.#changed()),
      view.on("extensions-converged", () => this.#changed()),
    ];
    this.#changed();
  }

  /** Hooks for `observeService`: joins and bootstraps go to the log. */
  readonly hooks: ServiceHooks = {
    joined: (o) => {
      if (o.result === "accepted") {
        this.#log.add("joined", `This member joined the cluster in ${o.seconds.toFixed(1)} s`);
      } else this.#log.add("refused", `Joining the cluster failed: ${o.reason}`);
      this.#changed();
    },
    bootstrapped: (name) => {
      this.#log.add("bootstrap", `This member bootstrapped the cluster as ${name}`, name);
      this.#changed();
    },
    admitted: (o) => {
      if (o.result === "accepted") {
        this.#log.add("admitted", `Admitted ${o.name} in ${o.seconds.toFixed(2)} s`, o.name);
      } else this.#watch.refusedJoin(o.name, o.reason ?? o.result);
      this.#changed();
    },
  };

  /** This member opened after waiting for others to upgrade. */
  upgradeOpened(waitedMs: number): void {
    this.#log.add(
      "upgrade",
      `This member opened after waiting ${(waitedMs / 1000).toFixed(1)} s for the others`,
    );
    this.#changed();
  }

  /** The extensions every member shares grew. */
  clusterExtensions(extensions: string[], previous: string[]): void {
    const added = extensions.slice(previous.length).join(", ");
    this.#log.add("extensions", `Every live member now runs ${added}`);
    this.#changed();
  }

  snapshot(): Promise<StatusSnapshot> {
    if (!this.#service) throw new Error("StatusTracker: bind() a service first");
    return buildSnapshot(this.#service, this.#watch, this.#log.list());
  }

  subscribe(listener: (snapshot: StatusSnapshot) => void): () => void {
    this.#listeners.add(listener);
    this.#phaseTimer ??= setInterval(() => {
      if (this.#service && this.#service.status() !== this.#phase) this.#changed();
    }, this.#phaseCheckMs);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopPhaseTimer();
    };
  }

  /** How many subscribers (open event streams) there are. */
  get subscribers(): number {
    return this.#listeners.size;
  }

  onClose(listener: () => void): () => void {
    if (this.#closed) {
      listener();
      return () => {};
    }
    this.#closers.add(listener);
    return () => this.#closers.delete(listener);
  }

  /** The member stops: streams end, nothing more is watched. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stopPhaseTimer();
    for (const off of this.#unwatch) off();
    for (const close of this.#closers) close();
    this.#closers.clear();
    this.#listeners.clear();
  }

  #stopPhaseTimer(): void {
    clearInterval(this.#phaseTimer);
    this.#phaseTimer = undefined;
  }

  #changed(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#settle().catch((err) => this.#logger.error("Status update failed", { err }));
    }, this.#settleMs);
  }

  async #settle(): Promise<void> {
    const service = this.#service;
    if (!service || this.#closed) return;
    const phase = service.status();
    if (phase !== this.#phase) {
      this.#log.add("phase", `This member is now ${phase} (was ${this.#phase})`);
      this.#phase = phase;
    }
    if (phase === "online" || phase === "waiting") {
      try {
        this.#watch.update(service.upgradeStatus());
      } catch { /* between phases */ }
    }
    if (this.#listeners.size === 0) return;
    const snapshot = await this.snapshot();
    for (const listener of [...this.#listeners]) {
      try {
        listener(snapshot);
      } catch (err) {
        this.#logger.error("Status listener failed", { err });
      }
    }
  }
}

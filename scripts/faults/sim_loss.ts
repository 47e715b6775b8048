/**
 * The random-loss fault scenario in simulation (seeded, simulated time): N members on the
 * in-memory network lose `--loss` % of their traffic for `--minutes` simulated minutes per seed,
 * and every `dead` verdict and suspicion is counted as `scripts/faults/run.ts loss` counts them
 * on real network paths (`tests/faults/verdicts.ts`), per member-hour, with who declared whom.
 *
 * `--model stream` (the default) loses packets under a TCP connection per pair of members, as
 * the WebSocket transport meets a lossy network (delays and head-of-line blocking, nothing
 * lost); `--model frames` loses whole frames, as a datagram network would.
 *
 * `--cut S` (stream only): a frame that would arrive more than S seconds late is lost and its
 * connection starts afresh, as the WebSocket transport closes a connection whose liveness ping
 * went unanswered (15 to 75 s); without it (`none`, the default) stalls run their course, which
 * matched the real figures best.
 *
 * Usage: `npx tsx scripts/faults/sim_loss.ts [--sizes 5,10] [--loss 30] [--model stream|frames]
 * [--cut none|S] [--seeds 20] [--minutes 60] [--preset lan|local] [--first-seed 1] [--verbose]
 * [--trace]` (`--trace`: every membership event and refutation in the 30 s before each verdict)
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { createSimCluster } from "../../gossip/sim.ts";
import type { LossModel } from "../../gossip/memory_transport.ts";
import type { Fields, Logger } from "../../lib/log.ts";
import { type Accusation, countVerdicts, formatVerdicts } from "../../tests/faults/verdicts.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "5,10" },
    loss: { type: "string", default: "30" },
    model: { type: "string", default: "stream" },
    seeds: { type: "string", default: "20" },
    "first-seed": { type: "string", default: "1" },
    minutes: { type: "string", default: "60" },
    preset: { type: "string", default: "lan" },
    cut: { type: "string", default: "none" },
    verbose: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    "Usage: npx tsx scripts/faults/sim_loss.ts [--sizes 5,10] [--loss 30] " +
      "[--model stream|frames] [--seeds 20] [--first-seed 1] [--minutes 60] [--preset lan|local] " +
      "[--verbose]",
  );
  process.exit(0);
}
const sizes = values.sizes.split(",").map(Number);
const losses = values.loss.split(",").map(Number);
const model = values.model as LossModel;
const seeds = Number(values.seeds);
const firstSeed = Number(values["first-seed"]);
const minutes = Number(values.minutes);
const preset = values.preset === "local" ? "local" : "lan";
const cutMs = values.cut === "none" ? Infinity : Number(values.cut) * 1000;
if (
  !sizes.every((n) => Number.isInteger(n) && n >= 3) ||
  !losses.every((l) => l > 0 && l < 100) || !["stream", "frames"].includes(model) ||
  !(seeds >= 1) || !(minutes > 0)
) {
  console.error("Invalid options: see --help");
  process.exit(2);
}

/** One seed's figures. */
interface SeedResult {
  accusations: Accusation[];
  /** With `--trace`: every membership event and refutation, `time observer event member`. */
  trace: { time: number; line: string }[];
  /** `declarer→accused (confirmations)` per suspicion timeout, and refusals confirmed. */
  declared: string[];
  /**
   * Each verdict (accused at an incarnation), when first taken: the accused had not heard of
   * its suspicion yet (`unheard`), had refuted but no other member held the refutation yet
   * (`refutedAlone`), or some other member held it (`refutationHeld`): where it got stuck.
   */
  where: { unheard: number; refutedAlone: number; refutationHeld: number };
}

/**
 * A logger that keeps only the lines declaring a member dead, as `time declarer→accused (why)`.
 * The engine binds its member name with `child({ member })`; the line's own `member` field is
 * the accused.
 */
class VerdictLog implements Logger {
  readonly level = 30;
  readonly #who: string;
  readonly #sink: string[];
  readonly #now: () => number;

  constructor(sink: string[], now: () => number, who = "?") {
    this.#sink = sink;
    this.#now = now;
    this.#who = who;
  }
  debug(): void {}
  warn(): void {}
  error(): void {}
  info(msg: string, fields?: Fields): void {
    if (!msg.includes("declaring the member dead")) return;
    const why = fields?.confirmations !== undefined
      ? `${fields.confirmations} confirmations`
      : `refused, ${fields?.relays} relays`;
    this.#sink.push(`${(this.#now() / 1000).toFixed(1)} s ${this.#who}→${fields?.member} (${why})`);
  }
  child(bindings: Fields): Logger {
    return new VerdictLog(this.#sink, this.#now, String(bindings.member ?? this.#who));
  }
}

function runSeed(n: number, loss: number, seed: number): SeedResult {
  const declared: string[] = [];
  let now = () => 0;
  const c = createSimCluster({
    size: n,
    seed,
    preset,
    network: { latencyMs: 0.1, jitterMs: 0.1, lossModel: model, streamCutMs: cutMs },
    logger: new VerdictLog(declared, () => now()),
  });
  now = () => c.clock.now();
  c.clock.advance(10_000);
  const accusations: Accusation[] = [];
  const where = { unheard: 0, refutedAlone: 0, refutationHeld: 0 };
  const verdicts = new Set<string>();
  c.members.forEach((g, o) => {
    g.on("member-failed", (e) => {
      const b = e.member.name;
      const inc = e.member.incarnation;
      if (verdicts.has(`${b}@${inc}`)) return;
      verdicts.add(`${b}@${inc}`);
      const held = c.members.some((x, i) =>
        c.names[i] !== b && i !== o && (x.member(b)?.incarnation ?? 0) > inc
      );
      if (held) where.refutationHeld++;
      else if (c.members[c.names.indexOf(b)].incarnation > inc) where.refutedAlone++;
      else where.unheard++;
    });
    g.on("member-suspect", (e) =>
      accusations.push({
        observer: c.names[o],
        member: e.member.name,
        kind: "suspect",
        time: c.clock.now(),
      }));
    g.on("member-failed", (e) =>
      accusations.push({
        observer: c.names[o],
        member: e.member.name,
        kind: "failed",
        time: c.clock.now(),
      }));
  });
  const trace: { time: number; line: string }[] = [];
  if (values.trace) {
    const events = ["member-suspect", "member-failed", "member-join", "member-update"] as const;
    c.members.forEach((g, o) => {
      for (const ev of events) {
        g.on(ev, (e) =>
          trace.push({
            time: c.clock.now(),
            line: `${
              c.names[o]
            } ${ev} ${e.member.name} i=${e.member.incarnation} (was ${e.previous})`,
          }));
      }
    });
    let refutations = c.members.map((g) => g.stats().refutations);
    c.clock.around = (turn) => {
      turn();
      c.members.forEach((g, i) => {
        const r = g.stats().refutations;
        if (r !== refutations[i]) {
          trace.push({ time: c.clock.now(), line: `${c.names[i]} refutes (i=${g.incarnation})` });
          refutations = [...refutations];
          refutations[i] = r;
        }
      });
    };
  }
  c.net.setLoss(loss / 100);
  c.clock.advance(minutes * 60_000);
  c.stop();
  return { accusations, declared, trace, where };
}

for (const n of sizes) {
  for (const loss of losses) {
    const started = performance.now();
    let dead = 0;
    let deadEpisodes = 0;
    let suspicionEpisodes = 0;
    const perSeed: number[] = [];
    const where = { unheard: 0, refutedAlone: 0, refutationHeld: 0 };
    for (let k = 0; k < seeds; k++) {
      const seed = firstSeed + k;
      const r = runSeed(n, loss, seed);
      const v = countVerdicts(r.accusations);
      dead += v.deadVerdicts;
      deadEpisodes += v.deadEpisodes;
      suspicionEpisodes += v.suspicionEpisodes;
      perSeed.push(v.deadVerdicts);
      where.unheard += r.where.unheard;
      where.refutedAlone += r.where.refutedAlone;
      where.refutationHeld += r.where.refutationHeld;
      if (values.verbose || v.deadVerdicts > 0) {
        console.error(`  N=${n} ${loss}% seed ${seed}: ${formatVerdicts(v)}`);
        for (const d of r.declared) console.error(`    ${d}`);
        if (values.trace) {
          const deaths = r.accusations.filter((a) => a.kind === "failed").map((a) => a.time);
          for (const t of r.trace) {
            if (deaths.some((d) => t.time >= d - 30_000 && t.time <= d + 2000)) {
              console.error(`      ${(t.time / 1000).toFixed(3)} ${t.line}`);
            }
          }
        }
      }
    }
    const memberHours = n * seeds * minutes / 60;
    const fiveMin = (x: number) => (x / (seeds * minutes / 5)).toFixed(2);
    console.log(
      `N=${n} ${loss}% ${model} ${preset}, ${seeds} seeds × ${minutes} min: dead ${dead} (${deadEpisodes} episodes), suspicion episodes ${suspicionEpisodes}; per member-hour: dead ${
        (dead / memberHours).toFixed(2)
      }, dead episodes ${(deadEpisodes / memberHours).toFixed(2)}, suspicion episodes ${
        (suspicionEpisodes / memberHours).toFixed(2)
      }; per 5 min of cluster: dead ${fiveMin(dead)}, suspicion episodes ${
        fiveMin(suspicionEpisodes)
      }; verdicts taken while the accused had not heard of its suspicion ${where.unheard}, had refuted but no other member held it ${where.refutedAlone}, another member held the refutation ${where.refutationHeld}; seeds with dead: ${
        perSeed.filter((x) => x > 0).length
      }/${seeds} (wall ${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
}

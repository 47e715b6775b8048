/**
 * A join's tail, from the admitting member's acceptance to the joiner's answer (issue 15:
 * "`init --token` returns within 1 s of the join being accepted"), cut into its parts from three
 * instants: the admitting member's "Admitted a new member" line (its `time`), the joiner's
 * "Joined the cluster" line (its `time` and its `*_ms` step durations) and the answer (the
 * `init --token` process's exit, or the control socket's answer), all on the host's wall clock.
 *
 * The joiner's steps after its join request are laid back from its line's time; what is left
 * between the acceptance and the first of them is the answer's way to the joiner (the admitting
 * member's view exported and encoded, TLS, the joiner's parse); what follows the line is the
 * `postJoin` hook, the control answer and, for the CLI, its output and exit.
 *
 * @module
 */

/** The joiner's step fields after its join request, in their order (`JoinSteps` + `online_ms`). */
const AFTER_REQUEST = [
  "network_ms",
  "pre_join_ms",
  "files_ms",
  "commit_ms",
  "online_ms",
] as const;

/** One join's tail in parts, ms; each part is absent when the joiner's line does not give it. */
export type JoinTail = Record<string, number>;

/**
 * The parts of one join's tail: `transfer` (acceptance → the answer in the joiner's hands), each
 * step of {@link AFTER_REQUEST} the line gives, `reply` (the line → the answer), `total`.
 * `joined` is the joiner's "Joined the cluster" line, parsed.
 */
export function joinTail(
  acceptedAt: number,
  joined: Record<string, unknown>,
  answeredAt: number,
): JoinTail {
  const steps = AFTER_REQUEST.filter((k) => typeof joined[k] === "number");
  const spent = steps.reduce((a, k) => a + (joined[k] as number), 0);
  const lineAt = joined.time as number;
  const tail: JoinTail = { transfer: lineAt - spent - acceptedAt };
  for (const k of steps) tail[k.replace(/_ms$/, "")] = joined[k] as number;
  tail.reply = answeredAt - lineAt;
  tail.total = answeredAt - acceptedAt;
  return tail;
}

/** Per part: the median and the largest over `tails`, ms, in the parts' order. */
export function tailSummary(tails: readonly JoinTail[]): [string, number, number][] {
  const parts = [...new Set(tails.flatMap((t) => Object.keys(t)))];
  return parts.map((p) => {
    const v = tails.map((t) => t[p]).filter((x) => x !== undefined).sort((a, b) => a - b);
    return [p, v[Math.floor((v.length - 1) / 2)], v.at(-1)!];
  });
}

/**
 * A limit on contacting members held dead on evidence that they are back: each member at most
 * once per request timeout, and at most {@link MAX_TRYING} members tracked at once.
 *
 * Separate from push-pull (push_pull.ts, push_pull_merge.ts), which keeps two of these (a frame
 * heard from a member held dead, a peer that holds it alive): the evidence comes from the
 * network, so without a bound a peer could have this member contact every member it names.
 *
 * @module
 */

/** Most members tracked by one {@link TryLimit} (tries beyond wait for an old one to expire). */
export const MAX_TRYING = 64;

/** When each member was last tried, by one kind of contact. */
export class TryLimit {
  readonly #timeoutMs: number;
  readonly #tried = new Map<string, number>();

  /** `timeoutMs`: how long after a try the same member may be tried again , ms. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Whether member `name` may be contacted at clock ms `now`: not tried within the timeout, and
   * room to track it. Notes the try when it may.
   */
  mayTry(name: string, now: number): boolean {
    const tried = this.#tried;
    const timeout = this.#timeoutMs;
    const last = tried.get(name);
    if (last !== undefined && now - last < timeout) return false;
    if (tried.size >= MAX_TRYING) {
      for (const [n, at] of tried) if (now - at >= timeout) tried.delete(n);
      if (tried.size >= MAX_TRYING) return false;
    }
    tried.set(name, now);
    return true;
  }
}

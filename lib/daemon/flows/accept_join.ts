/**
 * The accepting side of a join (any member), and its one undo path: a joiner admitted but never
 * heard of again. The checks pass first, then a majority of the roster claims the token for this
 * joiner (`confirm_use.ts`: one token admits one machine, partition or not), then the checks run
 * again on the view as it is after that round, the token is consumed and the admission written
 * (no await between those). The admission writes the joiner's roster record marked `joining`;
 * the joiner clears the mark once its `preJoin` passed, or withdraws (a failed or crashed join, see
 * `join.ts`). A mark still set after {@link JOIN_EXPIRY_MS} means the joiner is gone for good:
 * any online member then writes the record's tombstone, so no half-joined member stays listed.
 *
 * @module
 */
import { sharedAddressHolder } from "../../cluster/address_conflict.ts";
import { wallNow } from "../../cluster/clock.ts";
import { type JsonValue } from "../../json_value.ts";
import { MEMBER_RECORD, type RosterEntry, tokenOf } from "../../cluster/roster.ts";
import { hashSecret } from "../../cluster/token.ts";
import { ConflictError, UnavailableError } from "../../errors.ts";
import { fingerprint } from "../../net/certificates.ts";
import { checkAdmission } from "../admission.ts";
import type { MemberContext } from "../context.ts";
import { startingMeta } from "../gossip_port.ts";
import type { Network } from "../network.ts";
import type { JoinRequest, JoinResponse } from "../service.ts";
import type { JoinTokens } from "../tokens.ts";
import type { TokenClaim } from "../token_claims.ts";
import { confirmUse, newRound, releaseClaims } from "./confirm_use.ts";

/** How long an admitted joiner has to complete its join before it is dropped, ms. */
export const JOIN_EXPIRY_MS = 5 * 60_000;

/**
 * Admits (or refuses, with the reason) a prospective member. The admission is in this member's
 * store before the joiner hears it is a member: an admitter killed right after answering must
 * still know the joiner when it restarts (it may have been the only other member, and a member
 * it does not know is a member it never contacts and whose gossip it refuses).
 *
 * Every refusal is logged here, with the step that refused it: a joiner that heard nothing (its
 * request timed out) can be matched with what this member did.
 *
 * @throws {UnavailableError} when a majority of the roster could not confirm the token's single
 *   use, this member stopped serving meanwhile, or the joiner stopped waiting (`signal`
 *   aborted: its connection closed) before the admission; besides {@link checkAdmission}'s
 *   refusals
 */
export async function acceptJoin(
  ctx: MemberContext,
  net: Network,
  tokens: JoinTokens,
  request: JoinRequest,
  signal?: AbortSignal,
): Promise<JoinResponse> {
  const started = ctx.env.clock.now();
  let step = "checks";
  try {
    return await admit(ctx, net, tokens, request, signal, (s) => (step = s));
  } catch (err) {
    // A claim round's refusal is logged by the round, with its time.
    if (step === "claim round") throw err;
    ctx.logger.warn("Refused a join", {
      name: request.name,
      address: request.address,
      step,
      elapsed_ms: ctx.env.clock.now() - started,
      err,
    });
    throw err;
  }
}

async function admit(
  ctx: MemberContext,
  net: Network,
  tokens: JoinTokens,
  request: JoinRequest,
  signal: AbortSignal | undefined,
  at: (step: string) => void,
): Promise<JoinResponse> {
  const hash = hashSecret(request.secret);
  const check = () => {
    const token = tokenOf(net.gossip, hash);
    checkAdmission({
      request,
      token,
      local: net.view.local,
      roster: net.view.roster(),
      versionOf: (name) => net.view.versionOf(name),
    });
    return token;
  };
  check();
  // A host name may name a member's socket in other words (`localhost:9001` for a member at
  // 127.0.0.1:9001, down or not): only a resolution tells. Before the claim round, which it
  // spares; nothing is resolved unless a host name and a member's port meet.
  const holder = await sharedAddressHolder(request.address, net.view.roster(), ctx.env.lookup);
  if (holder) {
    throw new ConflictError(
      `Address ${request.address} is already used by member "${holder.name}" (at ${holder.address})`,
    );
  }
  const claim: TokenClaim = {
    hash,
    name: request.name,
    address: request.address,
    fingerprint: fingerprint(request.certificate),
    round: newRound(ctx.env.random),
  };
  const asked = ctx.env.clock.now();
  at("claim round");
  try {
    await confirmUse(ctx, net, tokens.claims, claim);
  } catch (err) {
    // What a loaded cluster costs a join shows here, not only in the joiner's error.
    ctx.logger.warn("Refused a join: its token's single use was not confirmed", {
      name: request.name,
      confirm_ms: ctx.env.clock.now() - asked,
      err,
    });
    throw err;
  }
  at("checks after the claim round");
  let token;
  try {
    if (ctx.network !== net || !ctx.machine.is("online")) {
      throw new UnavailableError("Join refused: this member stopped serving during the join");
    }
    // A joiner that gave up (its request timed out) is withdrawing, or joining again with
    // another token: admitting it now would leave a half-joined member listed.
    if (signal?.aborted) {
      throw new UnavailableError(
        `Join refused: the joiner stopped waiting during the claim round ` +
          `(${ctx.env.clock.now() - asked} ms)`,
      );
    }
    // The view may have changed during the round (the same joiner admitted by a retry).
    token = check();
  } catch (err) {
    // Released only while the token could still admit: once it was used (by this same machine
    // through another member), a claim let go could let a member that has not heard of the use
    // yet claim it for another machine.
    if (tokenOf(net.gossip, hash).state === "live" && !net.view.roster().has(request.name)) {
      await releaseClaims(ctx, net, tokens.claims, claim, [...net.view.roster().keys()]);
    }
    throw err;
  }
  at("admission");
  const now = ctx.env.clock.now();
  const wall = wallNow(ctx.env.clock); // `joinedAt` is a date every member compares
  // Check and consumption run without an await between them.
  if (token.state === "live") tokens.consume(hash, token.entry.expiresAt);
  // A name removed before is admitted after its removal (`roster_rules.ts`, rule 2), whatever the
  // remover's clock said: the seal states that removal in the admission. Likewise after the
  // removal this member's own admission states (it was removed and joined again): a joiner it
  // admits at a time no later than that removal's version, the remover's clock, would be taken
  // for one its removed incarnation admitted and trusted by nobody (`rosterOf`), and this
  // member's clock may be behind the remover's.
  const removed = net.gossip.record(MEMBER_RECORD, request.name);
  const ownRemoval = net.view.roster().get(net.config.name)?.admission?.after ?? -1;
  const entry: RosterEntry = {
    address: request.address,
    certificate: request.certificate,
    fingerprint: claim.fingerprint,
    joinedAt: Math.max(wall, ownRemoval + 1, removed?.value === null ? removed.version + 1 : wall),
    joining: true,
  };
  net.gossip.setRecord(MEMBER_RECORD, request.name, entry as unknown as JsonValue);
  if (request.app_version !== undefined) {
    // Its request came over mutual TLS with everything it will gossip about itself: announce
    // it now rather than after its first exchange (before the state it is handed, too).
    net.gossip.admit(
      request.name,
      startingMeta({
        address: request.address,
        fingerprint: entry.fingerprint,
        schemaInternal: request.schema_internal_version,
        schemaExternal: request.schema_external_version,
        appVersion: request.app_version,
        extensions: request.extensions,
      }),
    );
  }
  net.persistence.touch();
  // In the store and on disk before the joiner hears it is a member: an admitter that lost its
  // store's last seconds (an operating-system crash, a file system turned read-only after an I/O
  // error) came back without the joiner's roster record and refused its gossip (403) for good;
  // a write that failed (a full disk) answered for a record no store held.
  const unsynced = await net.persistence.flushDurably().then(
    () => undefined,
    (err: unknown) => err,
  );
  if (unsynced !== undefined) {
    net.gossip.setRecord(MEMBER_RECORD, request.name, null);
    net.persistence.touch();
    throw unsynced;
  }
  if (signal?.aborted) {
    // The joiner gave up while the admission was written (a slow disk, a starved loop): it never
    // gets its admission, so it would stay listed as joining until the join expired, and its
    // retry under the same name was refused "already exists". Its token stays used.
    net.gossip.setRecord(MEMBER_RECORD, request.name, null);
    net.persistence.touch();
    ctx.logger.warn("Took out a member admitted after its joiner stopped waiting", {
      name: request.name,
      admission_ms: ctx.env.clock.now() - now,
    });
    throw new UnavailableError(
      `Join refused: the joiner stopped waiting during its admission ` +
        `(${ctx.env.clock.now() - asked} ms); ask for a new token`,
    );
  }
  // The joiner does not listen yet: it gets the roster from us with its admission.
  syncRoster(net, request.name);
  ctx.logger.info("Admitted a new member", {
    name: request.name,
    address: request.address,
    // What single use across members cost this join: the claim round, ms.
    confirm_ms: now - asked,
  });
  const members = [...net.view.roster()].map(([name, m]) => ({
    name,
    address: m.address,
    certificate: m.certificate,
  }));
  const self = members.find((m) => m.name === net.config.name)!;
  return {
    cluster_cert: net.identity.clusterCert,
    cluster_key: net.identity.clusterKey,
    cluster_members: members,
    trusted_member: self,
    gossip_state: net.gossip.exportState(),
  };
}

/**
 * Has every other roster member compare digests with this one soon after this member changed
 * the roster. Trust follows the roster, so a member that missed the record's broadcast would
 * refuse a new member's gossip, and suspect it, until its next periodic push-pull, seconds
 * later. Digests, and not at once: full-state exchanges with every member right at the
 * admission would load the cluster, the joiner included, just when the joiner starts.
 */
export function syncRoster(net: Network, skip?: string): void {
  const own = net.config.name;
  const addresses = [...net.view.roster()]
    .filter(([name]) => name !== own && name !== skip)
    .map(([, m]) => m.address);
  net.gossip.sync(addresses);
}

/**
 * For each network, the admissions under way it has seen: their `joinedAt` (which admission)
 * and when this member first saw each, on its own clock.
 */
const underWay = new WeakMap<Network, Map<string, { joinedAt: number; seenAt: number }>>();

/**
 * Drops joiners that never completed: those this member has seen admitted, and not completed,
 * for more than {@link JOIN_EXPIRY_MS} on its own clock. Not measured from `joinedAt`, the
 * admitting member's clock: a member whose clock ran 5 minutes ahead of it dropped every join
 * under way. Nor on the wall clock: stepped forwards 10 min (NTP, `date -s`, a VM resumed), it
 * dropped a healthy joiner that had been under way for seconds. A member that starts (or
 * restarts) times the joins it finds from then on.
 */
export function expireStaleJoins(ctx: MemberContext, net: Network): void {
  const now = ctx.env.clock.now();
  let seen = underWay.get(net);
  if (!seen) underWay.set(net, seen = new Map());
  const current = new Set<string>();
  for (const [name, entry] of net.view.roster()) {
    if (!entry.joining) continue;
    current.add(name);
    let first = seen.get(name);
    if (first?.joinedAt !== entry.joinedAt) {
      seen.set(name, first = { joinedAt: entry.joinedAt, seenAt: now });
    }
    const ms = now - first.seenAt;
    // Each check says what it found: an operator (and a test) sees the joins it times.
    ctx.logger.debug("A join under way", { name, seen_under_way_ms: ms });
    if (ms <= JOIN_EXPIRY_MS) continue;
    ctx.logger.warn("Dropping a member whose join never completed", {
      name,
      seen_under_way_ms: ms,
    });
    net.gossip.setRecord(MEMBER_RECORD, name, null);
  }
  for (const name of seen.keys()) if (!current.has(name)) seen.delete(name);
}

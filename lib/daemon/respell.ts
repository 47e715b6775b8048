/**
 * A start's rewrite of the addresses an earlier release stored as typed (`127.0.0.1:09101`,
 * `LOCALHOST:9101`, `[::ffff:127.0.0.1]:9101`: see `address_stored.ts`) in their one spelling,
 * where this member owns what holds them: its `daemon.json`, its store's member rows, and its
 * own roster record (which it signs; the others' records are signed by their writers and stay
 * as written, read in the one spelling). Reading already gives the one spelling: this makes the
 * state directory say it too (`cohort sql`, a backup, an operator's `cat daemon.json`).
 *
 * Members of the earlier release read what this one writes: its own record reaches them, and
 * they took the one spelling always (any `host:port` up to 256 characters; gossip already
 * announces it).
 *
 * @module
 */
import { storedAddress } from "../cluster/address_stored.ts";
import type { JsonValue } from "../json_value.ts";
import { MEMBER_RECORD } from "../cluster/roster.ts";
import { respellMemberAddresses } from "../store/members.ts";
import type { MemberContext } from "./context.ts";
import { startRefusal } from "./disk_refusal.ts";
import { respellDaemonConfig } from "./join_config.ts";
import type { Network } from "./network.ts";

/**
 * Rewrites this member's `daemon.json` and store rows in the one spelling (written when this
 * resolves), and its own roster record (written with the next store write, spread by gossip);
 * logs once what it rewrote, nothing when nothing needed it.
 *
 * @throws {NoSpaceError} or {@link DiskError} naming the state directory and the file when the
 *   disk refuses the write: the start fails, as for its own row.
 */
export async function respellStored(ctx: MemberContext, net: Network): Promise<void> {
  const dir = ctx.paths.dir;
  const config = await respellDaemonConfig(ctx.paths).catch((err: unknown) => {
    throw startRefusal(err, "daemon.json (its address in its one spelling)", dir);
  });
  const rows = await respellMemberAddresses(ctx.store).catch((err: unknown) => {
    throw startRefusal(err, "its member rows (their addresses in their one spelling)", dir);
  });
  const record = respellOwnRecord(net);
  if (!config && rows === 0 && !record) return;
  ctx.logger.info("Rewrote the addresses an earlier release stored, in their one spelling", {
    ...(config ? { daemon_json: `${config.from} -> ${config.to}` } : {}),
    member_rows: rows,
    ...(record ? { own_record: record } : {}),
  });
}

/**
 * Rewrites this member's own roster record with its address in the one spelling, when it holds
 * another and its join is complete (a `joining` record is its admitting member's until then).
 * Returns `from -> to`, or `undefined` when nothing needed it.
 */
function respellOwnRecord(net: Network): string | undefined {
  const name = net.config.name;
  const value = net.gossip.record(MEMBER_RECORD, name)?.value;
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const { sig: _, ...entry } = value as Record<string, JsonValue>;
  const from = entry.address;
  if (typeof from !== "string" || entry.joining === true) return undefined;
  const to = storedAddress(from);
  if (to === from) return undefined;
  net.gossip.setRecord(MEMBER_RECORD, name, { ...entry, address: to });
  return `${from} -> ${to}`;
}

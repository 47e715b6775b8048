/**
 * Taking a member's cluster state away: what an undone initialisation leaves behind (certificates,
 * records, member rows), and the whole reset of a member that left its cluster (its store made
 * fresh as well, see `store_reset.ts`). Both are idempotent, so a restart can redo them.
 *
 * @module
 */
import { join } from "node:path";
import { files } from "../../files.ts";
import { deleteMember, listMembers } from "../../store/members.ts";
import { clearFormerCertificates } from "../../store/former_certificates.ts";
import { clearRecords } from "../../store/records.ts";
import { replaceTokens } from "../../store/tokens.ts";
import type { MemberContext } from "../context.ts";
import { removeDaemonConfig } from "../state_dir.ts";
import { recreateStore } from "../store_reset.ts";
import { removeJoinView } from "../join_view.ts";
import { removeClaims } from "../token_claims.ts";
import { syncDirAsync } from "../../write_durably.ts";

/** The certificate files of an initialised member. */
export const CERT_FILES = ["server.crt", "server.key", "cluster.crt", "cluster.key"] as const;

/** Removes the certificate files (the cluster's key above all). */
export async function removeCertificates(ctx: MemberContext): Promise<void> {
  for (const file of CERT_FILES) await files().rm(join(ctx.paths.dir, file), { force: true });
  await syncDirAsync(ctx.paths.dir);
}

/**
 * Removes what an initialisation that did not complete may have left: certificates, the view a
 * join kept, replicated records (and the former certificates they ended), member rows and token
 * rows. The member's configuration must already be absent.
 *
 * Every step is tried, whatever the others did; the first failure is thrown once all were. On a
 * full disk SQLite may have no room to delete the rows a bootstrap wrote: the certificates (the
 * cluster's key among them) still go, and the rows left are found and removed at the next start
 * (`flows/start.ts` reads records and member rows as leftovers).
 */
export async function clearLeftovers(ctx: MemberContext): Promise<void> {
  const failures: unknown[] = [];
  const attempt = async (step: () => unknown) => {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  };
  await attempt(() => clearRecords(ctx.store));
  await attempt(() => clearFormerCertificates(ctx.store));
  await attempt(() => replaceTokens(ctx.store, []));
  await attempt(async () => {
    for (const m of await listMembers(ctx.store)) await deleteMember(ctx.store, m.name);
  });
  await attempt(() => removeClaims(ctx.paths));
  await attempt(() => removeJoinView(ctx.paths));
  await attempt(() => removeCertificates(ctx));
  if (failures.length) throw failures[0];
}

/**
 * The reset of a member that left: its configuration first (from then on a restart is not a
 * member, and finishes this reset from `transition.json`), then its store made fresh, then its
 * certificates.
 */
export async function wipeState(ctx: MemberContext): Promise<void> {
  removeDaemonConfig(ctx.paths);
  ctx.setConfig(undefined);
  await syncDirAsync(ctx.paths.dir);
  const url = ctx.options.databaseUrl ?? `file:${ctx.paths.database}`;
  ctx.replaceStore(
    await recreateStore(ctx.store, {
      url,
      appMigrations: ctx.options.appMigrations,
      logger: ctx.logger.child({ component: "store" }),
      clock: ctx.env.clock,
    }),
  );
  removeClaims(ctx.paths);
  await removeJoinView(ctx.paths);
  await removeCertificates(ctx);
}

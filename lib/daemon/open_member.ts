/**
 * A member's open, in its order: its store (cohort's migrations; an initialised member's app
 * migrations wait for the upgrade gate), then what a crash cut short is finished or undone
 * (`flows/start.ts`), the control socket, and the flow its state calls for: an initialised
 * member starts (`flows/open.ts`), an uninitialised one loads its certificate issuer while nobody
 * waits and runs `onStart`. `member.ts` assembles the member and calls this once;
 * `stop_member.ts` is its counterpart.
 *
 * @module
 */
import { type Listener, serveUnix } from "../net/serve.ts";
import { openStore } from "../store/open.ts";
import type { MemberContext } from "./context.ts";
import { startRefusal } from "./disk_refusal.ts";
import { openInitialized } from "./flows/open.ts";
import { recoverAtStart } from "./flows/start.ts";
import { statusOf } from "./phase.ts";

/** What only the member holds, handed to {@link openMember}. */
export interface OpenHandles {
  /** Keeps the control socket the open serves (the stop closes it). */
  control(listener: Listener): void;
  /** Marks the member started (MicroCluster's ready channel: `Member.started`). */
  started(): void;
}

/**
 * Opens `member` (see the module docs); resolves once it has started, logging "Daemon started".
 *
 * @throws {DiskError} (507, naming the state directory) when its store cannot be opened or a
 *   crash's leftovers cannot be finished on a full, read-only or failing disk.
 */
export async function openMember(member: MemberContext, own: OpenHandles): Promise<void> {
  void member.handler; // the app's handler is built now, with the member complete
  member.replaceStore(
    await openStore({
      url: member.options.databaseUrl ?? `file:${member.paths.database}`,
      appMigrations: member.options.appMigrations,
      logger: member.logger.child({ component: "store" }),
      // An initialised member applies its app's migrations only once the gate lets it run them.
      deferApp: member.machine.is("starting"),
      clock: member.env.clock, // its delayed checkpoint too runs on the member's clock
    }).catch((err: unknown) => {
      // Its shared memory made anew (its last connection closed cleanly), cohort's own
      // migrations, a read of a failing disk: it printed "Open database: …", naming no directory.
      throw startRefusal(err, "its database", member.paths.dir);
    }),
  );
  await recoverAtStart(member).catch((err: unknown) => {
    // It printed "Clear replicated records: …" alone, on a full, read-only or failing disk.
    throw startRefusal(
      err,
      "its store, to finish or undo what a crash cut short",
      member.paths.dir,
    );
  });
  if (member.env.controlSocket) {
    own.control(
      await serveUnix({
        path: member.paths.socket,
        handler: member.handler,
        logger: member.logger.child({ component: "control" }),
      }),
    );
  }
  if (member.machine.is("starting")) {
    member.releaseIssuer();
    await openInitialized(member);
  } else if (member.machine.is("uninitialized")) {
    member.issuer(); // loads while nobody waits (see lib/net/cert_issuer.ts)
    await member.hook("onStart", {});
  }
  own.started();
  member.logger.info("Daemon started", {
    state_dir: member.paths.dir,
    status: statusOf(member.machine.phase),
    name: member.config?.name,
    address: member.config?.address,
    extensions: member.registry.count,
    schema_internal: member.store.versions.internal,
    schema_external: member.store.versions.external,
  });
}

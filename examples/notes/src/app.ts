/**
 * The notes app: a small clustered service built on cohort, in the spirit of MicroOVN. Every
 * member keeps its own notes (its own store) and shares a board with the whole cluster
 * (replicated records); release 2 adds tags, used only once every member runs release 2.
 *
 * Its REST API, served beside cohort's on each member's HTTPS address and control socket:
 *
 * | endpoint                    | access  | what                                                  |
 * | --------------------------- | ------- | ----------------------------------------------------- |
 * | `GET /1.0/status`           | open    | this member's name, release, features                 |
 * | `GET /1.0/notes[?tag=T]`    | trusted | this member's notes (newest first)                    |
 * | `POST /1.0/notes`           | trusted | adds a note to this member: `{"text", "tags"?}`       |
 * | `GET /1.0/board`            | trusted | the cluster's board, every entry                      |
 * | `GET /1.0/board/:key`       | trusted | one board entry                                       |
 * | `PUT /1.0/board/:key`       | trusted | writes an entry for every member: `{"text", "tags"?}` |
 * | `DELETE /1.0/board/:key`    | trusted | deletes it everywhere                                 |
 *
 * Each takes `?target=NAME` to be answered by member NAME instead. "trusted" means the control
 * socket or a cluster member's certificate.
 *
 * @module
 */
import {
  type AppEndpoint,
  createLogger,
  createMember,
  type Daemon,
  type MemberOptions,
  NotFoundError,
  syncResponse,
  UnavailableError,
} from "cohort";
import { readObject, tagsField, textField } from "./input.ts";
import { type NotesStore, notesStore } from "./notes_store.ts";
import { type Release, TAGS_EXTENSION } from "./releases.ts";

/**
 * A board entry as every member sees it (the value of replicated record `board/KEY`). A type
 * alias, not an interface: `records.put` takes JSON objects, which an interface is not known to be.
 */
export type BoardEntry = {
  text: string;
  /** The member that wrote it. */
  by: string;
  /** Release 2, and only once every member runs it. */
  tags?: string[];
};

const BOARD = "board/";
const BOARD_KEY = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Options of {@link startNotes}: cohort's member options the app leaves to its operator. */
export type NotesOptions = Pick<
  MemberOptions,
  "stateDir" | "gossipPreset" | "logger" | "upgradeDeadGraceMs" | "metricsAddress"
>;

/**
 * Starts a notes member of `release`: cohort's member with the release's extensions, migrations,
 * app version and endpoints. Runs under the `mixed` upgrade policy: a restarted member serves at
 * once, and the app itself keeps a new feature off until every member has it
 * (`hasExtension(name, { scope: "cluster" })`).
 */
export async function startNotes(release: Release, options: NotesOptions): Promise<Daemon> {
  const started: { app?: { member: Daemon; store: NotesStore } } = {};
  // The control socket serves while createMember is still starting the member.
  const app = () => {
    if (!started.app) throw new UnavailableError("The notes app is starting");
    return started.app;
  };
  const logger = options.logger ?? createLogger({ bindings: { component: "daemon" } });
  const member = await createMember({
    ...options,
    logger,
    extensions: release.extensions,
    appMigrations: release.migrations,
    appVersion: release.appVersion,
    upgradePolicy: "mixed",
    endpoints: endpoints(release, app),
  });
  started.app = { member, store: notesStore(member, release.number) };
  // The member's events are typed and come from the moment createMember returns: say when the
  // last member of release 1 is gone and tags switch on.
  const log = logger.child({ component: "notes" });
  let tags = tagsOn(release, member);
  log.info("Notes started", { release: release.number, tags });
  member.on("cluster-extensions", () => {
    if (tags || !tagsOn(release, member)) return;
    tags = true;
    log.info("Tags switched on: every member runs notes 2", { extension: TAGS_EXTENSION });
  });
  return member;
}

/** Whether tags may be used: this release has them and so does every live member. */
function tagsOn(release: Release, member: Daemon): boolean {
  return release.number >= 2 && member.hasExtension(TAGS_EXTENSION, { scope: "cluster" });
}

function boardKey(params: Readonly<Record<string, string>>): string {
  const key = params.key ?? "";
  if (!BOARD_KEY.test(key)) {
    throw new NotFoundError(`No board entry "${key.slice(0, 64)}" (keys are a-z, 0-9, . _ -)`);
  }
  return BOARD + key;
}

function endpoints(
  release: Release,
  app: () => { member: Daemon; store: NotesStore },
): AppEndpoint[] {
  const fields = release.number >= 2 ? ["text", "tags"] : ["text"];
  return [
    {
      method: "GET",
      path: "/1.0/status",
      access: "open",
      proxyTarget: true,
      whileWaiting: true,
      handler: async () => {
        const { member, store } = app();
        return syncResponse({
          member: member.info().name,
          release: release.number,
          app_version: member.info().version,
          notes: await store.count(),
          features: { tags: tagsOn(release, member) },
        });
      },
    },
    {
      method: "GET",
      path: "/1.0/notes",
      access: "trusted",
      proxyTarget: true,
      handler: async (request) => {
        const { store } = app();
        const tag = new URL(request.url).searchParams.get("tag");
        return syncResponse(tag === null ? await store.list(100) : await store.tagged(tag, 100));
      },
    },
    {
      method: "POST",
      path: "/1.0/notes",
      access: "trusted",
      proxyTarget: true,
      handler: async (request) => {
        const { member, store } = app();
        const body = await readObject(request, fields);
        const text = textField(body, "text");
        const tags = tagsField(body, tagsOn(release, member));
        return syncResponse(await store.add(text, tags));
      },
    },
    {
      method: "GET",
      path: "/1.0/board",
      access: "trusted",
      proxyTarget: true,
      handler: () => {
        const entries = app().member.records.list<BoardEntry>(BOARD);
        return syncResponse(
          Object.fromEntries(entries.map((e) => [e.key.slice(BOARD.length), e.value])),
        );
      },
    },
    {
      method: "GET",
      path: "/1.0/board/:key",
      access: "trusted",
      proxyTarget: true,
      handler: (_request, { params }) => {
        const key = boardKey(params);
        const entry = app().member.records.get<BoardEntry>(key);
        if (!entry) throw new NotFoundError(`No board entry "${key.slice(BOARD.length)}"`);
        return syncResponse(entry.value);
      },
    },
    {
      method: "PUT",
      path: "/1.0/board/:key",
      access: "trusted",
      proxyTarget: true,
      handler: async (request, { params }) => {
        const { member } = app();
        const key = boardKey(params);
        const body = await readObject(request, fields);
        const entry: BoardEntry = { text: textField(body, "text"), by: member.info().name };
        const tags = tagsField(body, tagsOn(release, member));
        if (tags.length > 0) entry.tags = tags;
        await member.records.put(key, entry);
        return syncResponse(entry);
      },
    },
    {
      method: "DELETE",
      path: "/1.0/board/:key",
      access: "trusted",
      proxyTarget: true,
      handler: async (_request, { params }) => {
        const key = boardKey(params);
        if (!(await app().member.records.delete(key))) {
          throw new NotFoundError(`No board entry "${key.slice(BOARD.length)}"`);
        }
        return syncResponse(null);
      },
    },
  ];
}

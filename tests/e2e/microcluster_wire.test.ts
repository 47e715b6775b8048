/**
 * cohort's REST API as MicroCluster v3's Go clients use it, against real daemons: every request
 * body exactly as Go's `json.Marshal` writes MicroCluster's request types (every field, zero
 * values included), every answer checked against the Go type the client decodes it into
 * (`tests/helpers/go_types.ts`). The fields a Go client finds missing or extra are listed per
 * endpoint: they are cohort's deliberate differences, and the README lists each of them.
 */
// deno-lint-ignore-file no-explicit-any
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { fingerprint } from "../../lib/net/certificates.ts";
import {
  allOnline,
  api,
  type Member,
  newMember,
  run,
  startMember,
  stateFile,
  stopMembers,
} from "../helpers/cluster.ts";
import {
  any,
  check,
  ClusterMember,
  Control,
  goEncode,
  type GoType,
  map,
  Response,
  Server,
  ServerConfig,
  slice,
  SQLBatch,
  SQLDump,
  SQLQuery,
  str,
  Token,
  TokenRecord,
  TokenRequest,
  TokenResponse,
} from "../helpers/go_types.ts";
import { exitOf } from "../helpers/process.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const HOURS_3_NS = 3 * 3600 * 1e9;

interface Ctx {
  c1: Member;
  c2: Member;
}

const test = suite<Ctx>("MicroCluster wire compatibility");

test.before(async (ctx) => {
  ctx.c1 = await newMember("c1");
  ctx.c2 = await newMember("c2");
  await Promise.all([startMember(ctx.c1), startMember(ctx.c2)]);
});

test.after(async (ctx) => {
  await stopMembers([ctx.c1, ctx.c2].filter(Boolean));
});

test("waitready and GET /core/1.0/ready answer as soon as the daemon is up, before init", async ({ c1 }) => {
  // MicroCluster's test scripts run `waitready` before `init`: its ready channel closes once the
  // daemon has started, initialised or not.
  const waited = await run(c1, ["waitready", "--timeout", "10"]);
  assert.is(waited.code, 0, waited.stderr);
  const ready = await api(c1, "GET", "/core/1.0/ready");
  assert.is(ready.status, 200, ready.body?.error);
  assert.is(ready.body.metadata, null);
  const info = await api(c1, "GET", "/core/1.0");
  assert.is(info.body.metadata.ready, false, "GET /core/1.0 still says the database is not open");
});

/** One call as a Go client makes it, and what its answer is decoded into. */
interface Row {
  /** `METHOD path` as the table prints it. */
  endpoint: string;
  /** The answer's metadata type (`any` where the Go client passes a nil target). */
  decodesAs: GoType;
  /** Fields of the Go type cohort's answer lacks (paths without indices, e.g. `[].secret`). */
  absent?: string[];
  /** Fields cohort's answer adds. */
  extra?: string[];
  /** Fields cohort writes in another case (Go matches keys case-insensitively). */
  cased?: string[];
  /** Makes the call: the HTTP status and the parsed envelope. */
  call(ctx: Ctx): Promise<{ status: number; body: any }>;
}

const unix = (m: Member, method: string, path: string, body?: unknown) =>
  api(m, method, path, body);

let token = "";

const ROWS: Row[] = [
  {
    endpoint: "GET / (before init)",
    // The API listing: `["/1.0"]`, as MicroCluster answers it, to anyone and before init.
    decodesAs: slice(str),
    call: async ({ c1 }) => {
      const res = await unix(c1, "GET", "/");
      assert.equal(res.body?.metadata, ["/1.0"], "GET / lists /1.0");
      return res;
    },
  },
  {
    endpoint: "POST /core/control (bootstrap)",
    decodesAs: any,
    // ControlDaemon(ctx, types.Control{Bootstrap: true, InitConfig: map{}, Name, Address})
    call: ({ c1 }) =>
      unix(
        c1,
        "POST",
        "/core/control",
        goEncode(Control, { bootstrap: true, config: {}, address: c1.address, name: "c1" }),
      ),
  },
  {
    endpoint: "GET /core/1.0",
    decodesAs: Server,
    call: ({ c1 }) => unix(c1, "GET", "/core/1.0"),
  },
  {
    endpoint: "GET /core/1.0/ready",
    decodesAs: any,
    call: ({ c1 }) => unix(c1, "GET", "/core/1.0/ready"),
  },
  {
    endpoint: "POST /core/control/tokens",
    decodesAs: str,
    call: async ({ c1 }) => {
      const res = await unix(
        c1,
        "POST",
        "/core/control/tokens",
        goEncode(TokenRequest, { name: "c2", expire_after: HOURS_3_NS }),
      );
      token = res.body?.metadata ?? "";
      return res;
    },
  },
  {
    endpoint: "GET /core/control/tokens",
    decodesAs: slice(TokenRecord),
    // Only a hash of a token's secret is stored: the token cannot be shown again.
    absent: ["[].token"],
    call: ({ c1 }) => unix(c1, "GET", "/core/control/tokens"),
  },
  {
    endpoint: "POST /core/control (join)",
    decodesAs: any,
    // JoinCluster(ctx, name, address, token, nil): a nil InitConfig is encoded as null.
    call: async ({ c2 }) => {
      const res = await unix(
        c2,
        "POST",
        "/core/control",
        goEncode(Control, { join_token: token, address: c2.address, name: "c2" }),
      );
      return res;
    },
  },
  {
    endpoint: "GET /core/1.0/cluster",
    decodesAs: slice(ClusterMember),
    absent: ["[].secret"],
    extra: ["[].fingerprint", "[].extension_verdict", "[].app_version"],
    call: async ({ c1, c2 }) => {
      await allOnline([c1, c2], ["c1", "c2"]);
      return await unix(c1, "GET", "/core/1.0/cluster");
    },
  },
  {
    endpoint: "GET /core/1.0/cluster (HTTPS, member certificate)",
    decodesAs: slice(ClusterMember),
    absent: ["[].secret"],
    extra: ["[].fingerprint", "[].extension_verdict", "[].app_version"],
    // A Go member's client: its own server certificate, the cluster certificate as the only root.
    call: ({ c1, c2 }) =>
      requestJson({
        method: "GET",
        url: `https://${c1.address}/core/1.0/cluster`,
        tls: pinnedTlsOptions({
          fingerprint: fingerprint(stateFile(c2, "cluster.crt")),
          cert: stateFile(c2, "server.crt"),
          key: stateFile(c2, "server.key"),
        }),
      }) as Promise<{ status: number; body: any }>,
  },
  {
    endpoint: "GET / (HTTPS, no client certificate)",
    decodesAs: slice(str),
    call: async ({ c1 }) => {
      const res = await requestJson({
        method: "GET",
        url: `https://${c1.address}/`,
        tls: pinnedTlsOptions({ fingerprint: fingerprint(stateFile(c1, "cluster.crt")) }),
      }) as { status: number; body: any };
      assert.equal(res.body?.metadata, ["/1.0"], "GET / over HTTPS lists /1.0");
      return res;
    },
  },
  {
    endpoint: "GET /core/1.0/daemon/servers",
    // map[string]types.ServerConfig: a member without extension servers lists none.
    decodesAs: map(ServerConfig),
    call: ({ c1 }) => unix(c1, "GET", "/core/1.0/daemon/servers"),
  },
  {
    endpoint: "PUT /core/1.0/daemon/servers",
    decodesAs: any,
    // UpdateServers(ctx, map[string]types.ServerConfig{}): nothing to move.
    call: ({ c1 }) => unix(c1, "PUT", "/core/1.0/daemon/servers", {}),
  },
  {
    endpoint: "GET /core/internal/sql",
    decodesAs: SQLDump,
    call: ({ c1 }) => unix(c1, "GET", "/core/internal/sql"),
  },
  {
    endpoint: "GET /core/internal/sql?schema=1",
    decodesAs: SQLDump,
    call: ({ c1 }) => unix(c1, "GET", "/core/internal/sql?schema=1"),
  },
  {
    endpoint: "POST /core/internal/sql",
    decodesAs: SQLBatch,
    // MicroCluster writes every field of each result; Go reads the absent ones as the same
    // zero values (a select's rows_affected 0, an exec's columns and rows nil).
    absent: [".Results[].columns", ".Results[].rows", ".Results[].rows_affected"],
    cased: [".Results"],
    call: ({ c1 }) =>
      unix(
        c1,
        "POST",
        "/core/internal/sql",
        goEncode(SQLQuery, {
          // cohort's own tables are read-only in the console: the exec runs on an app table.
          query: "SELECT name, role FROM core_cluster_members ORDER BY name; " +
            "CREATE TABLE IF NOT EXISTS wire_probe (a); " +
            "UPDATE wire_probe SET a = a WHERE a = 'nobody'",
        }),
      ),
  },
  {
    endpoint: "POST /core/internal/cluster (join request, HTTPS without a client certificate)",
    decodesAs: TokenResponse,
    absent: [".ClusterAdditionalCerts"],
    extra: [".gossip_state"],
    // AddClusterMember(ctx, client, types.ClusterMember{...}): every field, role/status empty.
    call: async ({ c1 }) => {
      const issued = await unix(c1, "POST", "/core/control/tokens", {
        name: "c9",
        expire_after: 0,
      });
      const secret = JSON.parse(atob(issued.body.metadata)).secret;
      const self = (await unix(c1, "GET", "/core/1.0/cluster")).body.metadata
        .find((m: any) => m.name === "c1");
      const joiner = await generateCertificate({ name: "c9", addresses: ["127.0.0.9"] });
      return await requestJson({
        method: "POST",
        url: `https://${c1.address}/core/internal/cluster`,
        tls: pinnedTlsOptions({ fingerprint: fingerprint(stateFile(c1, "cluster.crt")) }),
        body: goEncode(ClusterMember, {
          name: "c9",
          address: "127.0.0.9:9009",
          certificate: joiner.cert,
          schema_internal_version: self.schema_internal_version,
          schema_external_version: self.schema_external_version,
          extensions: self.extensions,
          secret,
        }),
      }) as { status: number; body: any };
    },
  },
  {
    endpoint: "DELETE /core/1.0/cluster/{name}?force=1",
    decodesAs: any,
    // The admitted c9 never runs: remove it as MicroCluster's client does, no body.
    call: ({ c1 }) => unix(c1, "DELETE", "/core/1.0/cluster/c9?force=1"),
  },
  {
    endpoint: "DELETE /core/1.0/tokens/{name}",
    decodesAs: any,
    call: async ({ c1 }) => {
      await unix(c1, "POST", "/core/control/tokens", goEncode(TokenRequest, { name: "c3" }));
      return await unix(c1, "DELETE", "/core/1.0/tokens/c3");
    },
  },
  {
    endpoint: "PATCH /core/internal/database",
    decodesAs: any,
    call: ({ c1 }) => unix(c1, "PATCH", "/core/internal/database"),
  },
  {
    endpoint: "PUT /core/internal/cluster/{name}?force=1",
    decodesAs: any,
    // ResetClusterMember(ctx, client, name, true): no body, force in the query.
    call: ({ c2 }) => unix(c2, "PUT", "/core/internal/cluster/c2?force=1"),
  },
  {
    endpoint: "POST /core/control/shutdown",
    decodesAs: any,
    call: ({ c2 }) => unix(c2, "POST", "/core/control/shutdown"),
  },
];

const normalise = (paths: string[]) =>
  [...new Set(paths.map((p) => p.replace(/\[\d+\]/g, "[]")))].sort();

test("every endpoint takes MicroCluster's Go-encoded requests and answers what its Go types decode", async (ctx) => {
  for (const row of ROWS) {
    const { status, body } = await row.call(ctx);
    assert.is(status, 200, `${row.endpoint}: ${body?.error}`);
    const envelope = check(Response, body);
    assert.equal(
      envelope,
      { errors: [], absent: [], extra: [], cased: [] },
      `${row.endpoint}: envelope`,
    );
    assert.is(body.type, "sync", row.endpoint);
    const verdict = check(row.decodesAs, body.metadata);
    assert.equal(verdict.errors, [], `${row.endpoint}: Go would fail to decode the answer`);
    assert.equal(
      normalise(verdict.absent),
      [...(row.absent ?? [])].sort(),
      `${row.endpoint}: absent`,
    );
    assert.equal(normalise(verdict.extra), [...(row.extra ?? [])].sort(), `${row.endpoint}: extra`);
    assert.equal(normalise(verdict.cased), [...(row.cased ?? [])].sort(), `${row.endpoint}: case`);
  }
  const c2Gone = await exitOf(ctx.c2.daemon!, "c2");
  assert.is(c2Gone, 0, "c2 shut down cleanly");
});

test("the join token decodes as MicroCluster's Token", () => {
  assert.ok(token, "a token was issued");
  const verdict = check(Token, JSON.parse(atob(token)));
  assert.equal(verdict, { errors: [], absent: [], extra: [], cased: [] });
});

test("an error answer is an LXD error envelope a Go client turns into an error", async ({ c1 }) => {
  const again = await unix(
    c1,
    "POST",
    "/core/control",
    goEncode(Control, { bootstrap: true, address: c1.address, name: "c1" }),
  );
  assert.is(again.status, 409);
  assert.equal(check(Response, again.body), { errors: [], absent: [], extra: [], cased: [] });
  assert.is(again.body.type, "error");
  assert.is(again.body.error_code, 409);
  assert.match(again.body.error, 'already initialized as "c1"');
});

test("the README lists every difference a Go client meets", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### MicroCluster compatibility"));
  assert.ok(section.length > 100, "README has a MicroCluster compatibility section");
  for (const row of ROWS) {
    for (const field of [...(row.absent ?? []), ...(row.extra ?? []), ...(row.cased ?? [])]) {
      const name = field.split(".").pop()!;
      assert.match(section, `\`${name}\``, `${row.endpoint}: ${field} is listed`);
    }
  }
});

test.run();

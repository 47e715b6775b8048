import process from "node:process";
import { appVersionProblem } from "../../cluster/app_version.ts";
import { parseMetricsAddress } from "../../metrics/listener.ts";
import { startDescriptorError, watchOpenFileLimit } from "../../open_files.ts";
import type { Command } from "../command.ts";
import { choiceFlag, durationFlag } from "../flag_values.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";

/**
 * `--upgrade-dead-grace`'s bounds: 100 years at most, as a token's validity: a bound on a number
 * that is a duration, not a limit anyone meets.
 */
export const DEAD_GRACE_BOUNDS = {
  maxMs: 36_525 * 86_400_000,
  maxText: "36525d",
  zero: "wait forever",
} as const;

const PRESETS = ["lan", "local"] as const;
const POLICIES = ["strict", "mixed"] as const;

/**
 * `cohort daemon`: runs a member in the foreground until SIGTERM/SIGINT or a shutdown request;
 * exits 0 once stopped, 1 when its stop could not store what it had to.
 */
export const daemonCommand: Command = {
  path: ["daemon"],
  summary: "Run a cohort member in the foreground",
  usage: `Usage: cohort daemon [--state-dir DIR] [--extensions a,b,c] [--app-migrations DIR]
                     [--app-version V] [--database URL] [--gossip-preset lan|local]
                     [--upgrade-policy strict|mixed] [--upgrade-dead-grace D]
                     [--metrics-address [HOST:]PORT]

Runs a member daemon in the foreground. It serves the control API on DIR/control.socket and,
once initialised, HTTPS on the member's address. Logs are JSON lines on stderr. It stops on
SIGTERM, SIGINT or "cohort shutdown", and exits 1 when its stop could not store what it had to
(a full, read-only or failing disk; its last log line says so), 0 otherwise.

Options:
  --state-dir DIR        State directory (default: $COHORT_STATE_DIR or ~/.local/state/cohort)
  --extensions LIST      The app's API extensions, comma-separated, oldest first
  --app-migrations DIR   Folder of the app's drizzle-kit migrations ("schema extensions")
  --app-version V        The app's version string, shown in GET /core/1.0 (default 0.0.0;
                         1 to 64 printable ASCII characters without spaces); the command
                         "cohort app-version" changes it until the daemon stops
  --database URL         libSQL URL of the store (default: file:DIR/database/cohort.db)
  --gossip-preset P      Gossip timing: lan (default, memberlist's LAN values) or local
                         (loopback and tests: faster probes and suspicion)
  --upgrade-policy P     strict (default): after a restart with new versions, wait until every
                         member runs them; mixed: serve at once (the app uses the cluster's
                         common extensions)
  --upgrade-dead-grace D Stop waiting for a member that has been down this long
                         (e.g. 10m; 1ms to ${DEAD_GRACE_BOUNDS.maxText}; default 0: wait forever)
  --metrics-address A    Also serve the metrics (GET /metrics) over plain HTTP, for a
                         Prometheus without a member certificate: HOST:PORT, or a PORT on
                         127.0.0.1 (default: not served; "cohort metrics" and GET
                         /core/1.0/metrics work anyway)
  -h, --help             Show this help
`,
  async run(argv, deps) {
    // V8 grows the young generation up to 32 MB when bursts (joins, push-pulls) survive
    // scavenges, and an idle member keeps it: ~7-10 MB of a 10-member cluster's VmRSS per member.
    // Pinning it at its initial 1 MB semi-spaces costs a few more (cheap) scavenges. Only the
    // daemon command does this: an embedding app owns its process's GC settings. Node and Deno
    // both read this flag at each growth, so setting it after start-up takes effect. Imported
    // here, not at the top: every other command would load `node:v8` for nothing.
    const { setFlagsFromString } = await import("node:v8");
    setFlagsFromString("--semi-space-growth-factor=1");
    const { values, positionals: rest } = parse(argv, {
      extensions: { type: "string" },
      "app-migrations": { type: "string" },
      "app-version": { type: "string" },
      database: { type: "string" },
      "gossip-preset": { type: "string" },
      "upgrade-dead-grace": { type: "string" },
      "upgrade-policy": { type: "string" },
      "metrics-address": { type: "string" },
    });
    positionals(rest, []);
    const list = values.extensions ?? "";
    const extensions = list === "" ? [] : list.split(",").map((s) => s.trim());
    if (extensions.some((e) => e === "")) {
      throw new UsageError(`--extensions has an empty entry: "${list}"`);
    }
    const appVersion = values["app-version"];
    const problem = appVersion === undefined ? undefined : appVersionProblem(appVersion);
    if (problem) throw new UsageError(`--app-version ${problem}`);
    const preset = choiceFlag("gossip-preset", values["gossip-preset"], PRESETS, "lan");
    const policy = choiceFlag("upgrade-policy", values["upgrade-policy"], POLICIES, "strict");
    const grace = durationFlag(
      "upgrade-dead-grace",
      values["upgrade-dead-grace"],
      "0",
      DEAD_GRACE_BOUNDS,
    );
    const metricsAddress = values["metrics-address"];
    if (metricsAddress !== undefined) {
      try {
        parseMetricsAddress(metricsAddress);
      } catch (err) {
        throw new UsageError(`--metrics-address: ${(err as Error).message}`);
      }
    }
    // The daemon's modules load here (the installed command's bundle carries the CLI alone): out of
    // descriptors, their loading fails before the daemon's own start can say why. The limit is
    // read from a file kept open from now on: at the limit it could not be opened any more.
    watchOpenFileLimit();
    const daemon = await deps.startDaemon({
      gossipPreset: preset,
      upgradePolicy: policy,
      upgradeDeadGraceMs: grace,
      stateDir: stateDirFrom(values),
      extensions,
      appMigrations: values["app-migrations"],
      appVersion,
      databaseUrl: values.database,
      metricsAddress,
    }).catch((err: unknown) => {
      throw startDescriptorError(err) ?? err;
    });
    const onSignal = () => void daemon.stop();
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    try {
      // A stop that could not store what it had to exits 1 (its last log line says why): with 0,
      // systemd and other supervisors recorded a clean stop.
      const outcome = await daemon.closed;
      return outcome && !outcome.stored ? 1 : 0;
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
  },
};

/**
 * The app the crash-order journey runs (`crash_order.fault.ts`): cohort's command line with one
 * extension server, `web`, presenting a certificate of its own (`dedicatedCertificate`), so that
 * the journey also writes what an app's operator makes the member write: `servers.json` (its
 * address, `PUT /core/1.0/daemon/servers`) and `certificates/web.crt|key`. The server has no
 * address until the journey gives it one.
 *
 * Run as `<runtime> crash_order_app.ts daemon --state-dir DIR …` (the `cohort daemon` flags).
 */
import process from "node:process";
import { createMember, runCli } from "../../mod.ts";

const code = await runCli(process.argv.slice(2), {
  startDaemon: (o) =>
    createMember({
      stateDir: o.stateDir,
      extensions: o.extensions,
      gossipPreset: o.gossipPreset,
      servers: {
        web: {
          dedicatedCertificate: true,
          endpoints: [{
            method: "GET",
            path: "/hi",
            access: "open",
            handler: () =>
              Promise.resolve(
                Response.json({
                  type: "sync",
                  status: "Success",
                  status_code: 200,
                  metadata: "hi",
                }),
              ),
          }],
        },
      },
    }),
  stdout: process.stdout,
  stderr: process.stderr,
});
process.exit(code);

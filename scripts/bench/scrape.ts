/**
 * Reads a running member's metrics for the benchmarks: `GET /core/1.0/metrics` on the control
 * socket of its state directory, as a map from series (name and labels) to value.
 *
 * @module
 */
import { request } from "node:http";
import { join } from "node:path";

/** A member's metrics (`GET /core/1.0/metrics` on its control socket): value by series name. */
export function scrape(dir: string): Promise<Map<string, number>> {
  return new Promise((resolve) => {
    const out = new Map<string, number>();
    const req = request(
      { socketPath: join(dir, "control.socket"), path: "/core/1.0/metrics", timeout: 30_000 },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          for (const line of text.split("\n")) {
            const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
            if (m) out.set(m[1], Number(m[2]));
          }
          resolve(out);
        });
      },
    );
    req.on("error", () => resolve(out));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

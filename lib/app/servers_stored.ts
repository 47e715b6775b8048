/**
 * The addresses of the app's extension servers as `PUT /core/1.0/daemon/servers` keeps them, in
 * `STATE_DIR/servers.json`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { parseStoredAddress } from "../cluster/address_stored.ts";

/**
 * The addresses `PUT` kept in `servers.json`, each in its one spelling: an earlier release kept
 * them as typed (`127.0.0.1:08443`), and dropping one now refused would move its server back to
 * the app's default.
 */
export function readStored(path: string): Record<string, { address: string }> {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    const out: Record<string, { address: string }> = {};
    for (const [name, c] of Object.entries(parsed)) {
      const address = (c as { address?: unknown })?.address;
      if (typeof address !== "string") continue;
      const one = address === "" ? "" : parseStoredAddress(address)?.address;
      if (one !== undefined) out[name] = { address: one };
    }
    return out;
  } catch {
    return {};
  }
}

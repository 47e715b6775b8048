/**
 * The length rule of a Unix socket's path. The kernel keeps the path in a fixed buffer
 * (`sun_path`: 108 bytes on Linux, 104 on macOS); a longer path is refused by Deno (EINVAL) and
 * silently cut by Node, which then binds a socket at the cut path ("…/contro") that no client
 * finds. Every path is checked here first, before a daemon makes its state directory and before a
 * client dials.
 *
 * @module
 */
import process from "node:process";
import { InvalidInputError } from "../errors.ts";

/**
 * The longest socket path accepted, in UTF-8 bytes: the kernel's buffer less the terminating NUL
 * byte (107 on Linux, 103 on macOS).
 */
export const MAX_SOCKET_PATH_BYTES = process.platform === "darwin" ? 103 : 107;

const bytes = (text: string) => new TextEncoder().encode(text).length;

/**
 * Checks that `path` fits a Unix socket address.
 *
 * @throws {InvalidInputError} (field `stateDir`) naming the path, its length and the longest
 *   state directory that fits, e.g. `"…/control.socket" is 108 bytes long; a Unix socket's path
 *   holds at most 107: use a state directory of at most 92 bytes`
 */
export function checkSocketPath(path: string): void {
  const length = bytes(path);
  if (length <= MAX_SOCKET_PATH_BYTES) return;
  const slash = path.lastIndexOf("/");
  const dirRoom = MAX_SOCKET_PATH_BYTES - bytes(path.slice(slash));
  throw new InvalidInputError(
    `The control socket "${path}" is ${length} bytes long; a Unix socket's path holds at most ` +
      `${MAX_SOCKET_PATH_BYTES}: use a state directory of at most ${dirRoom} bytes`,
    { field: "stateDir" },
  );
}

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { InvalidInputError } from "../../lib/errors.ts";
import { checkSocketPath, MAX_SOCKET_PATH_BYTES } from "../../lib/net/socket_path.ts";

const test = suite("checkSocketPath()");

const SOCKET = "/control.socket";

test("a path of the longest length a socket holds passes; one byte more is refused", () => {
  const dir = "/" + "d".repeat(MAX_SOCKET_PATH_BYTES - SOCKET.length - 1);
  checkSocketPath(dir + SOCKET);
  let caught: unknown;
  try {
    checkSocketPath(dir + "d" + SOCKET);
  } catch (err) {
    caught = err;
  }
  assert.instance(caught, InvalidInputError);
  assert.is((caught as InvalidInputError).field, "stateDir");
  assert.match(
    (caught as Error).message,
    `is ${MAX_SOCKET_PATH_BYTES + 1} bytes long; a Unix socket's path holds at most ` +
      `${MAX_SOCKET_PATH_BYTES}: use a state directory of at most ` +
      `${MAX_SOCKET_PATH_BYTES - SOCKET.length} bytes`,
  );
});

test("length is counted in UTF-8 bytes, not characters", () => {
  // "é" is two bytes: as many characters as the longest ASCII path that passes, one byte over.
  const dir = "/é" + "d".repeat(MAX_SOCKET_PATH_BYTES - SOCKET.length - 2);
  assert.is(dir.length + SOCKET.length, MAX_SOCKET_PATH_BYTES);
  assert.throws(() => checkSocketPath(dir + SOCKET), /is \d+ bytes long/);
});

test.run();

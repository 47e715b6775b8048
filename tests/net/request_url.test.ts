/**
 * The URL a handler's `Request` carries, from the request target and the Host header as a client
 * sent them (raw HTTP/1.1 over the control socket): the target resolved against
 * `http://` + Host, and against `http://localhost` when the Host header is no valid host. The
 * listener takes a shortcut for plain targets and hosts (it lets the `Request` parse the URL
 * once); every case must still give what that resolution gives.
 */
import { connect } from "node:net";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jsonResponse } from "../../lib/net/json_response.ts";
import { serveUnix } from "../../lib/net/serve.ts";
import type { FetchHandler } from "../../lib/net/serve.ts";
import { tempDir } from "./_helpers.ts";

const test = suite("the URL of a served request");

/**
 * The URL `target` and `host` must give (what the listener always resolved), or 400 when the
 * runtime's `Request` refuses that URL (Node's refuses one with credentials, Deno's takes it).
 */
function expected(target: string, host: string): string | number {
  let url: URL;
  try {
    url = new URL(target, `http://${host || "localhost"}`);
  } catch {
    url = new URL(target, "http://localhost");
  }
  try {
    return new Request(url.href).url;
  } catch {
    return 400;
  }
}

/** Sends one raw request and resolves with the answer's body. */
function raw(path: string, target: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (d) => (text += d));
    socket.on("error", reject);
    socket.on("end", () => resolve(text.slice(text.indexOf("\r\n\r\n") + 4)));
    socket.write(`GET ${target} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
  });
}

const echoUrl: FetchHandler = (request) =>
  Promise.resolve(jsonResponse(JSON.stringify(request.url), 200));

test("targets and hosts, plain or not, give the URL of the target resolved against the host", async () => {
  const { dir, cleanup } = await tempDir();
  const path = join(dir, "s.sock");
  const listener = await serveUnix({ path, handler: echoUrl });
  const targets = [
    "/",
    "/core/1.0/cluster",
    "/core/1.0/cluster?x=1&y=%20#frag",
    "/a/../b/./c",
    "/a%2Fb/%C3%A9~|^",
    "/a\\b",
    "//evil.example/x",
    "/\\evil.example/x",
    "http://other.example:81/y?z",
    "/core?",
  ];
  // (Without a Host header node answers 400 itself, as HTTP/1.1 asks.)
  const hosts = [
    "",
    "localhost",
    "LOCALHOST:80",
    "127.0.0.1:8443",
    "[::1]:7443",
    "[::1",
    "a..b",
    "example.org:",
    "example.org:99999",
    "1.2.3.999",
    "bad host",
    "x/y",
    "user@host",
    "user:pw@example.org:81",
  ];
  try {
    for (const target of targets) {
      for (const host of hosts) {
        const answer = JSON.parse(await raw(path, target, host));
        const got = typeof answer === "string" ? answer : answer.error_code;
        assert.is(got, expected(target, host), `target ${target}, host ${host}`);
      }
    }
  } finally {
    await listener.close();
    await cleanup();
  }
});

test.run();

/**
 * `pathOf`, which tells cohort's routes from the app's by the request's path without parsing
 * its URL: for any URL a `Request` carries, it gives `new URL(url).pathname`.
 */
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { pathOf } from "../../routes/router.ts";

const test = suite("pathOf()");

test("gives new URL(url).pathname for the URL of any Request", () => {
  const part = fc.string({ unit: fc.constantFrom(..."/?#.%2Fa:@\\é ~[]"), maxLength: 12 });
  const host = fc.constantFrom("localhost", "127.0.0.1:7443", "[::1]", "u:p@h", "x.example");
  fc.assert(
    fc.property(
      fc.constantFrom("http", "https", "ws", "file", "foo"),
      host,
      part,
      (scheme, h, rest) => {
        let url: string;
        try {
          url = new Request(`${scheme}://${h}/${rest}`).url;
        } catch {
          return; // not a URL a Request takes
        }
        assert.is(pathOf(url), new URL(url).pathname, url);
      },
    ),
    { numRuns: 2000 },
  );
  for (const url of ["http://h", "https://h:1/core?x#y", "http://h/core#a?b", "data:text,x"]) {
    assert.is(pathOf(new URL(url).href), new URL(url).pathname, url);
  }
});

test.run();

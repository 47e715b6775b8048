/**
 * The certificate process: a short-lived child that issues key pairs for its parent (see
 * {@link ./cert_issuer.ts}), so the X.509 library's memory never stays in a member.
 *
 * Protocol: one JSON object per line on stdin, `{"id": n, "spec": CertificateSpec}`; one per
 * line on stdout, `{"id": n, "pair": KeyPair}` or `{"id": n, "error": {"message", "field"}}`.
 * It writes `{"ready": true}` once the library is loaded, and exits when stdin ends. It logs
 * nothing: stdout carries only the protocol.
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { InvalidInputError } from "../errors.ts";
import { isMainModule } from "../runtime.ts";
import { generateCertificate } from "./certificates.ts";
import type { CertificateSpec } from "./certificates.ts";

/** One answer line of the certificate process. */
export type CertAnswer =
  | { readonly ready: true }
  | { readonly id: number; readonly pair: { cert: string; key: string; fingerprint: string } }
  | { readonly id: number; readonly error: { message: string; field?: string } };

/** Serves requests from `input` until it ends, answering on `write`. */
export async function serveCertificates(
  input: NodeJS.ReadableStream,
  write: (line: string) => void,
): Promise<void> {
  // The first certificate loads the library and warms its code paths, so the parent's first
  // real request (a join waiting on it) takes milliseconds.
  await generateCertificate({ name: "warm-up.invalid", days: 1 });
  write(JSON.stringify({ ready: true } satisfies CertAnswer));
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let id = -1;
    try {
      const request = JSON.parse(line) as { id: number; spec: CertificateSpec };
      id = request.id;
      const pair = await generateCertificate(request.spec);
      write(JSON.stringify({ id, pair } satisfies CertAnswer));
    } catch (err) {
      const field = err instanceof InvalidInputError ? err.field : undefined;
      const message = err instanceof InvalidInputError
        ? err.message
        : "Generate certificate: the certificate process failed";
      write(JSON.stringify({ id, error: { message, field } } satisfies CertAnswer));
    }
  }
}

if (isMainModule(import.meta)) {
  await serveCertificates(process.stdin, (line) => process.stdout.write(line + "\n"));
  process.exit(0);
}

/**
 * The build's steps after tsc's emit, in order, in one process (`npm run build` runs tsc, then
 * this): the declarations rolled up, the assets copied, the certificate process, the command line
 * and the library bundled, the OpenAPI document written. Each step is a script of its own, which
 * also runs alone (`tsx scripts/bundle_mod.ts`); a step that fails stops the build with exit 1.
 *
 * Why one process: each `tsx` start costs about half a second of CPU (its loader thread and
 * esbuild service), and `npm test` builds three times (once itself, once per runtime in
 * `tests/e2e/local_cluster.test.ts`, whose `npm run cluster` builds a copy of the checkout).
 */
const STEPS = [
  "./bundle_types.ts",
  "./copy_assets.ts",
  "./bundle_cert_process.ts",
  "./bundle_cli.ts",
  "./bundle_mod.ts",
  "./write_openapi.ts",
];

for (const step of STEPS) await import(step);

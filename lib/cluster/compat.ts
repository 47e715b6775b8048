/**
 * Compatibility between members: the one comparison behind join admission (issue: join-time
 * extension check) and restart gating (rolling upgrades). Pure functions, so every member
 * reaches the same verdict from the same view.
 *
 * A member's version is its internal schema version, its external (app) schema version and its
 * API extension list. Another member is `ahead` when it is ahead or equal in all three and
 * strictly ahead in one, `behind` symmetrically, `diverged` when the directions disagree or the
 * extension lists diverge.
 *
 * @module
 */
import {
  compareExtensions,
  describeComparison,
  type ExtensionComparison,
  type Verdict,
} from "./extensions.ts";

/** The parts of a member's version that gating compares. */
export interface MemberVersion {
  schemaInternal: number;
  schemaExternal: number;
  extensions: readonly string[];
}

/** How one member compares with us, from our side (as in {@link compareExtensions}). */
export interface VersionComparison {
  /** `ahead`: we are ahead of them; `behind`: we are behind them. */
  verdict: Verdict;
  schemaInternal: Verdict;
  schemaExternal: Verdict;
  extensions: ExtensionComparison;
}

function numeric(ours: number, theirs: number): Verdict {
  return ours === theirs ? "equal" : ours > theirs ? "ahead" : "behind";
}

/** Compares our version with theirs. */
export function compareVersions(ours: MemberVersion, theirs: MemberVersion): VersionComparison {
  const schemaInternal = numeric(ours.schemaInternal, theirs.schemaInternal);
  const schemaExternal = numeric(ours.schemaExternal, theirs.schemaExternal);
  const extensions = compareExtensions(ours.extensions, theirs.extensions);
  const parts = new Set([schemaInternal, schemaExternal, extensions.verdict]);
  parts.delete("equal");
  let verdict: Verdict;
  if (parts.size === 0) verdict = "equal";
  else if (parts.has("diverged") || parts.size > 1) verdict = "diverged";
  else verdict = [...parts][0];
  return { verdict, schemaInternal, schemaExternal, extensions };
}

/**
 * Says in words what differs, from our side: e.g. `schema (internal) 3 vs 4; lacks "b"`.
 * Empty when equal.
 */
export function describeVersions(
  ours: MemberVersion,
  theirs: MemberVersion,
  c: VersionComparison = compareVersions(ours, theirs),
): string {
  const parts: string[] = [];
  if (c.schemaInternal !== "equal") {
    parts.push(`internal schema version ${ours.schemaInternal} vs ${theirs.schemaInternal}`);
  }
  if (c.schemaExternal !== "equal") {
    parts.push(`app schema version ${ours.schemaExternal} vs ${theirs.schemaExternal}`);
  }
  if (c.extensions.verdict !== "equal") {
    parts.push(`extensions: ${describeComparison(c.extensions, theirs.extensions)}`);
  }
  return parts.join("; ");
}

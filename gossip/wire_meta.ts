/**
 * Member metadata between its in-process form ({@link MemberMeta}) and its wire form
 * ({@link WireMeta}, short keys, no extension list), memoized per object: a member's metadata
 * changes rarely and is sent in most frames.
 *
 * @module
 */
import type { MemberMeta } from "../lib/cluster/membership.ts";
import type { WireMeta } from "./messages.ts";

const metaCache = new WeakMap<WireMeta, MemberMeta>();
const wireCache = new WeakMap<MemberMeta, WireMeta>();

/** Converts metadata to its wire form (without the extension list); memoized per object. */
export function toWireMeta(meta: MemberMeta): WireMeta {
  let wire = wireCache.get(meta);
  if (!wire) {
    wire = makeWire(meta);
    wireCache.set(meta, wire);
  }
  return wire;
}

function makeWire(meta: MemberMeta): WireMeta {
  return {
    a: meta.address,
    fp: meta.fingerprint,
    r: meta.role,
    si: meta.schemaInternal,
    se: meta.schemaExternal,
    v: meta.appVersion,
    ec: meta.extensionCount,
    ed: meta.extensionDigest,
  };
}

/** Converts wire metadata to {@link MemberMeta}; memoized per object. */
export function fromWireMeta(m: WireMeta): MemberMeta {
  let meta = metaCache.get(m);
  if (!meta) {
    meta = Object.freeze({
      address: m.a,
      fingerprint: m.fp,
      role: m.r,
      schemaInternal: m.si,
      schemaExternal: m.se,
      appVersion: m.v,
      extensionCount: m.ec,
      extensionDigest: m.ed,
    });
    metaCache.set(m, meta);
  }
  return meta;
}

/** Reports whether two wire metadata values are equal field by field. */
export function sameWireMeta(x: WireMeta, y: WireMeta): boolean {
  return x === y || (x.a === y.a && x.fp === y.fp && x.r === y.r && x.si === y.si &&
    x.se === y.se && x.v === y.v && x.ec === y.ec && x.ed === y.ed);
}

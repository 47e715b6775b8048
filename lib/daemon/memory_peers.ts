/**
 * The in-process {@link PeerTransport}: members register their HTTP handler under their address
 * in one {@link MemoryPeers} network, and a request becomes a web `Request` handed to the target's
 * handler with the caller's certificate fingerprint, as the HTTPS listener would. For whole
 * members in one process (a simulation on a simulated clock); the pinning check is the same:
 * the target must serve the pinned cluster certificate.
 *
 * @module
 */
import { ForbiddenError, UnavailableError } from "../errors.ts";
import { fingerprint } from "../net/certificates.ts";
import { normalizeFingerprint } from "../net/pin.ts";
import type { PeerAnswer, PeerConnections, PeerRequest, PeerTransport } from "./peers.ts";
import type { Handler } from "./options.ts";

interface Endpoint {
  handler: Handler;
  /** Fingerprint of the certificate the endpoint serves (the cluster's). */
  serves: string;
}

/** An in-memory network of member endpoints; see the module docs. */
export class MemoryPeers implements PeerTransport {
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #down = new Set<string>();

  /**
   * Serves `handler` at `address`, presenting certificate `cert` (PEM); returns the function
   * that stops serving. A second registration of a live address fails like a busy port.
   */
  listen(address: string, cert: string, handler: Handler): () => void {
    this.checkFree(address);
    const endpoint = { handler, serves: fingerprint(cert) };
    this.#endpoints.set(address, endpoint);
    return () => {
      if (this.#endpoints.get(address) === endpoint) this.#endpoints.delete(address);
    };
  }

  /** Throws as {@link listen} would when `address` is served already. */
  checkFree(address: string): void {
    if (this.#endpoints.has(address)) {
      throw new UnavailableError(`Cannot listen on ${address}: address already in use`);
    }
  }

  /** Makes `address` unreachable (a partition) or reachable again. */
  setReachable(address: string, reachable: boolean): void {
    if (reachable) this.#down.delete(address);
    else this.#down.add(address);
  }

  /** Nothing to keep: a request opens no connection. */
  connections(): PeerConnections {
    return { retain() {}, close() {} };
  }

  async request(r: PeerRequest): Promise<PeerAnswer> {
    const endpoint = this.#endpoints.get(r.address);
    if (!endpoint || this.#down.has(r.address)) {
      throw new UnavailableError(`Cannot reach ${r.address}: connection refused`);
    }
    const pinned = normalizeFingerprint(r.fingerprint);
    if (r.peerCert !== undefined && fingerprint(r.peerCert) !== pinned) {
      throw new ForbiddenError("The peer certificate given does not have the pinned fingerprint");
    }
    if (endpoint.serves !== pinned) {
      throw new ForbiddenError(`${r.address} presented a certificate that is not the pinned one`);
    }
    const request = new Request(`https://${r.address}${r.path}`, {
      method: r.method,
      headers: { "content-type": "application/json", ...r.headers },
      body: r.body === undefined ? undefined : JSON.stringify(r.body),
    });
    const response = await endpoint.handler(request, {
      transport: "https",
      peerFingerprint: fingerprint(r.identity.cert),
      remoteAddress: "memory",
    });
    const text = await response.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: response.status, body };
  }
}

/**
 * Both PeerTransports (HTTPS with mutual TLS, and MemoryPeers for whole members in one process)
 * keep one contract: tests/daemon/peers_contract.ts.
 */
import { suite } from "../helpers/suite.ts";
import { generateCertificate, type KeyPair } from "../../lib/net/certificates.ts";
import { serveHttps } from "../../lib/net/serve.ts";
import { MemoryPeers } from "../../lib/daemon/memory_peers.ts";
import { httpsPeers } from "../../lib/daemon/peers.ts";
import { freePort } from "../helpers/process.ts";
import { peersContract } from "./peers_contract.ts";

let keys: { cluster: KeyPair; member: KeyPair; other: KeyPair };
const load = async () => {
  keys ??= {
    cluster: await generateCertificate({ name: "c1", addresses: ["127.0.0.1"] }),
    member: await generateCertificate({ name: "m2", addresses: ["127.0.0.1"] }),
    other: await generateCertificate({ name: "x", addresses: ["127.0.0.1"] }),
  };
};

const https = suite("PeerTransport: HTTPS");
https.before(load);
peersContract(https, () =>
  Promise.resolve({
    transport: httpsPeers,
    async serve(cert, handler) {
      const listener = await serveHttps({
        host: "127.0.0.1",
        port: 0,
        cert: cert.cert,
        key: cert.key,
        handler,
      });
      return { address: listener.address, stop: () => listener.close() };
    },
    nowhere: async () => `127.0.0.1:${await freePort()}`,
  }), () => keys);
https.run();

const memory = suite("PeerTransport: memory");
memory.before(load);
peersContract(memory, () => {
  const peers = new MemoryPeers();
  let n = 0;
  return Promise.resolve({
    transport: peers,
    serve(cert, handler) {
      const address = `10.0.0.${++n}:7443`;
      const stop = peers.listen(address, cert.cert, handler);
      return Promise.resolve({ address, stop: () => Promise.resolve(stop()) });
    },
    nowhere: () => Promise.resolve("10.9.9.9:7443"),
  });
}, () => keys);
memory.run();

/**
 * The shared transport contract against the WebSocket transport: two members with real mTLS
 * sockets on 127.0.0.1, a closed port as the dead address, and a settle that waits (in real
 * time) until the traffic in flight has arrived.
 */
import { runTransportContract } from "./transport_contract.ts";
import { wsPair } from "./ws_helpers.ts";

runTransportContract("websocket (mTLS on 127.0.0.1)", () => wsPair());

/**
 * Coalesced sends: the frames to one peer within one turn of the event loop leave in one write.
 *
 * @module
 */
import type { Duplex } from "node:stream";
import { setImmediate } from "node:timers";
import type WebSocket from "ws";

/**
 * Sends frames so that those to one peer within one turn of the event loop leave in one write:
 * the first frame corks the connection's socket, and it is uncorked once the turn's work is done
 * (`setImmediate`). Each `ws.send` is otherwise its own TLS record and `write` system call, and
 * a member answering a burst of frames (a join's state exchange, a round of probes) spent more
 * time in those writes than in the gossip itself. Frames are never held past the turn.
 */
export function coalescingSender(): (ws: WebSocket, data: string | Uint8Array) => void {
  const corked = new Set<Duplex>();
  let scheduled = false;
  const uncork = () => {
    scheduled = false;
    for (const socket of corked) socket.uncork();
    corked.clear();
  };
  return (ws, data) => {
    // ws keeps its socket in `_socket` (no public accessor); without one, frames go one by one.
    const socket = (ws as unknown as { _socket?: Duplex })._socket;
    if (socket && !corked.has(socket) && typeof socket.cork === "function") {
      socket.cork();
      corked.add(socket);
      if (!scheduled) {
        scheduled = true;
        setImmediate(uncork);
      }
    }
    ws.send(data);
  };
}

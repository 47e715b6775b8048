/**
 * The app's membership events (`member-join`, `member-removed`, …: see `events.ts`), told from
 * the member's view changes.
 *
 * @module
 */
import type { EventHub } from "./events.ts";
import type { ViewChange } from "./view.ts";

/**
 * Emits on `events` the app's event for view change `change`, if it is one (a re-check of the
 * view is none).
 */
export function emitMembership(events: EventHub, change: ViewChange): void {
  if (change.kind === "record") {
    if (change.removed) events.emit("member-removed", { name: change.removed.name });
    return;
  }
  if (change.name === "") return; // a re-check of the view, not a member's change
  const payload = { name: change.name, previous: change.previous };
  switch (change.event) {
    case "member-join":
    case "member-suspect":
    case "member-failed":
    case "member-left":
      return events.emit(change.event, payload);
    case "member-update":
      return events.emit(
        change.previous === "suspect" ? "member-alive" : "member-updated",
        payload,
      );
  }
}

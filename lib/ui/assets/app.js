// The status page: renders each snapshot the member's event stream sends (no polling; the
// stream pushes a new snapshot after every change). Every value is written as text, never as
// HTML: names, versions and messages come from the network.

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const ZERO_TIME = "0001-01-01T00:00:00Z";

/** `12:04:31`, and how long before `now` (a snapshot's time) it was. */
function when(time, now) {
  if (!time || time === ZERO_TIME) return "never";
  const t = new Date(time);
  const ago = Math.max(0, (new Date(now) - t) / 1000);
  const age = ago < 1
    ? "now"
    : ago < 120
    ? `${Math.round(ago)} s ago`
    : `${Math.round(ago / 60)} min ago`;
  return `${t.toLocaleTimeString([], { hour12: false })} (${age})`;
}

function statusClass(status) {
  return String(status).toLowerCase().replace(/\s+/g, "-");
}

function renderHeader(s) {
  $("member-name").textContent = `· ${s.member.name}`;
  const down = new Set(["UNREACHABLE", "SUSPECT"]);
  const up = s.members.filter((m) => !down.has(m.status)).length;
  $("summary").replaceChildren(
    "This member is ",
    el("span", { class: `status ${statusClass(s.member.status)}`, id: "phase" }, s.member.status),
    s.member.address ? ` at ${s.member.address}` : "",
    s.members.length ? ` · ${up} of ${s.members.length} members reachable` : "",
    ` · app ${s.member.version}`,
  );
}

function renderMembers(s) {
  const rows = s.members.map((m) =>
    el(
      "tr",
      { "data-member": m.name },
      el("td", {}, m.name),
      el("td", { class: "mono" }, m.address),
      el("td", {}, m.role),
      el(
        "td",
        { class: "status-cell" },
        el("span", { class: `status ${statusClass(m.status)}`, "data-status": m.status }, m.status),
      ),
      el("td", { class: "mono" }, m.app_version || "—"),
      el("td", { class: "mono" }, `${m.schema_internal_version}/${m.schema_external_version}`),
      el(
        "td",
        { title: m.extension_verdict.verdict },
        `${m.extensions.length}`,
        m.extension_verdict.verdict === "equal"
          ? ""
          : el("span", { class: `tag verdict ${m.extension_verdict.verdict}` }, verdictText(m)),
      ),
      el("td", {}, when(m.last_heartbeat, s.time)),
    )
  );
  $("members").tBodies[0].replaceChildren(
    ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 8 }, "Not initialised yet"))]),
  );
}

/** A member's extensions against this member's: `extra` are ours it lacks, `missing` its own. */
function verdictText(m) {
  const v = m.extension_verdict;
  if (v.verdict === "ahead") return `lacks ${v.extra.length}`;
  if (v.verdict === "behind") return `${v.missing.length} more`;
  return v.verdict;
}

/** Extensions in list order: lists only grow at their end, so the longest leads. */
function extensionRows(s) {
  const order = [];
  const seen = new Set();
  const lists = [s.extensions?.local ?? [], ...s.members.map((m) => m.extensions)];
  lists.sort((a, b) => b.length - a.length);
  for (const list of lists) {
    for (const e of list) {
      if (seen.has(e)) continue;
      seen.add(e);
      order.push(e);
    }
  }
  return order;
}

function renderMatrix(s) {
  const members = s.members;
  const common = new Set(s.extensions?.cluster ?? []);
  const head = el(
    "tr",
    {},
    el("th", {}, "Extension"),
    ...members.map((m) => el("th", { "data-member": m.name }, m.name)),
  );
  const rows = extensionRows(s).map((ext) => {
    const cells = members.map((m) => m.extensions.includes(ext));
    const everywhere = cells.every(Boolean);
    return el(
      "tr",
      {
        "data-extension": ext,
        "data-common": String(common.has(ext)),
        class: everywhere ? "" : "diverged",
      },
      el(
        "th",
        { scope: "row" },
        el("span", { class: "mono" }, ext),
        common.has(ext) ? el("span", { class: "tag common" }, "cluster") : "",
      ),
      ...members.map((m, i) =>
        el(
          "td",
          {
            "data-member": m.name,
            "data-has": String(cells[i]),
            class: cells[i] ? "has" : "lacks",
          },
          cells[i] ? "✓" : "✗",
        )
      ),
    );
  });
  $("matrix").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function renderUpgrade(s) {
  const u = s.upgrade;
  if (!u) return $("upgrade").replaceChildren(el("p", {}, "Not initialised yet"));
  const t = u.target;
  const state = u.complete
    ? el("p", { class: "ok", "data-upgrade": "complete" }, "Every member runs the target.")
    : el(
      "p",
      { class: "warn", "data-upgrade": "in-progress" },
      `In progress since ${when(u.since, s.time)}: ${u.pending.length} pending.`,
      u.waiting_since ? ` This member waits since ${when(u.waiting_since, s.time)}.` : "",
    );
  const rows = u.members.map((m) =>
    el(
      "tr",
      { "data-member": m.name, "data-state": m.state },
      el("td", {}, m.name),
      el("td", {}, el("span", { class: `tag ${m.state}` }, m.state)),
      el("td", {}, m.lacks ?? ""),
      el("td", {}, when(m.since, s.time)),
    )
  );
  const parts = [
    el(
      "p",
      {},
      "Target: internal schema ",
      el("b", {}, t.schema_internal),
      ", app schema ",
      el("b", {}, t.schema_external),
      ", ",
      el("b", {}, t.extensions),
      " extensions.",
    ),
    state,
    el(
      "table",
      { id: "upgrade-members" },
      el(
        "thead",
        {},
        el("tr", {}, ...["Member", "State", "Lacks", "Since"].map((h) => el("th", {}, h))),
      ),
      el("tbody", {}, ...rows),
    ),
  ];
  if (u.excluded.length) {
    parts.push(
      el("p", {}, "Excluded by the dead grace (no longer waited for): ", u.excluded.join(", ")),
    );
  }
  parts.push(el("h3", {}, "Refused attempts"));
  parts.push(
    u.refused.length
      ? el(
        "ul",
        { id: "refused" },
        ...u.refused.slice().reverse().map((r) =>
          el(
            "li",
            {},
            el("time", {}, when(r.time, s.time)),
            ` ${r.member} (${r.kind}): ${r.reason}`,
          )
        ),
      )
      : el("p", { class: "muted" }, "None."),
  );
  $("upgrade").replaceChildren(...parts);
}

function renderEvents(s) {
  const items = s.events.slice().reverse().map((e) =>
    el(
      "li",
      { "data-kind": e.kind },
      el("time", { datetime: e.time }, new Date(e.time).toLocaleTimeString([], { hour12: false })),
      el("span", { class: `tag kind ${e.kind}` }, e.kind),
      e.message,
    )
  );
  $("events").replaceChildren(
    ...(items.length ? items : [el("li", { class: "muted" }, "None yet.")]),
  );
}

function render(s) {
  renderHeader(s);
  renderMembers(s);
  renderMatrix(s);
  renderUpgrade(s);
  renderEvents(s);
  document.body.dataset.snapshot = s.time;
}

function connection(state, text) {
  const node = $("connection");
  node.dataset.state = state;
  node.textContent = text;
}

const stream = new EventSource("events");
stream.addEventListener("snapshot", (event) => {
  let snapshot;
  try {
    snapshot = JSON.parse(event.data);
  } catch {
    return; // an event cut off by a member that stopped: the next one is whole
  }
  render(snapshot);
  connection(
    "live",
    `Live · updated ${new Date(snapshot.time).toLocaleTimeString([], { hour12: false })}`,
  );
});
stream.addEventListener("unavailable", (event) => {
  const { error } = JSON.parse(event.data);
  connection("unavailable", `The member cannot be reached: ${error}. Retrying…`);
});
stream.addEventListener("error", () => connection("unavailable", "Connection lost. Retrying…"));

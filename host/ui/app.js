// The dashboard: tabs, and what each refreshes. The agents are polled every
// 2 s (table, charts, names for the other views); the sniffer and the log
// tail follow the event stream.
"use strict";

const VIEWS = {
  agents: () => Agents.refresh(),
  sniffer: async () => {}, // redrawn when events arrive, not by the poll (a click must not go stale)
  conversations: () => Conversations.refresh(),
  "dead-letters": () => DeadLetters.refresh(),
  logs: async () => {},
  composer: async () => {},
};
let current = "agents";

function show(view) {
  current = view;
  for (const name of Object.keys(VIEWS)) {
    document.getElementById("view-" + name).hidden = name !== view;
  }
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  if (view === "sniffer") Sniffer.draw();
  refresh();
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const names = await Agents.refresh();
    Sniffer.know(names);
    Logs.offer(names);
    if (current !== "agents") await VIEWS[current]();
    status.textContent = "live · " + new Date().toLocaleTimeString();
    status.className = "ok";
  } catch (e) {
    status.textContent = String(e.message || e);
    status.className = "error";
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
  document.getElementById("logs-agent").addEventListener("change", (e) => Logs.follow(e.target.value));
  Composer.setup();
  const first = (location.hash || "#agents").slice(1);
  show(VIEWS[first] ? first : "agents");
  await refresh();
  Sniffer.start();
  // every tab: the status line must say when the server is gone
  setInterval(refresh, 2000);
});

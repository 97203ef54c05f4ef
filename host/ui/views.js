// The dashboard's views other than the sniffer: agents (table and charts),
// conversations, dead letters, an agent's log tail and the composer.
"use strict";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

const Agents = (() => {
  const POINTS = 150;          // samples kept per chart (5 minutes at one per 2 s)
  const samples = { time: [] };
  const previous = new Map();  // name -> { messages, at }
  let charts = null;           // { names, rate, latency, memory }

  function series(names) {
    return [{}].concat(names.map((name, i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2 })));
  }

  function chart(id, names, unit) {
    const target = document.getElementById(id);
    target.replaceChildren();
    const opts = { width: Math.max(320, target.clientWidth || 420), height: 200, series: series(names),
      scales: { x: { time: true } }, axes: [{}, { label: unit }] };
    return new uPlot(opts, [[]].concat(names.map(() => [])), target);
  }

  function column(name, key) {
    samples[key] ??= new Map();
    if (!samples[key].has(name)) samples[key].set(name, samples.time.map(() => null));
    return samples[key].get(name);
  }

  function record(agents, now) {
    samples.time.push(now / 1000);
    for (const a of agents) {
      const before = previous.get(a.name);
      const rate = before ? (a.stats.messages - before.messages) / Math.max(0.001, (now - before.at) / 1000) : 0;
      previous.set(a.name, { messages: a.stats.messages, at: now });
      column(a.name, "rate").push(Math.max(0, rate));
      const p99 = a.stats.handle_time.p99_micros;
      column(a.name, "latency").push(p99 === null ? null : p99 / 1000);
      column(a.name, "memory").push(a.stats.memory_high_water / 1048576);
    }
    for (const key of ["rate", "latency", "memory"]) {
      for (const values of (samples[key] || new Map()).values()) {
        while (values.length < samples.time.length) values.push(null);
        if (values.length > POINTS) values.splice(0, values.length - POINTS);
      }
    }
    if (samples.time.length > POINTS) samples.time.splice(0, samples.time.length - POINTS);
  }

  function plot(agents) {
    const names = agents.map((a) => a.name);
    if (typeof uPlot === "undefined") return;
    if (!charts || charts.names.join() !== names.join()) {
      charts = { names, rate: chart("chart-rate", names, "msg/s"), latency: chart("chart-latency", names, "ms"),
        memory: chart("chart-memory", names, "MiB") };
    }
    for (const key of ["rate", "latency", "memory"]) {
      charts[key].setData([samples.time.slice()].concat(names.map((n) => column(n, key).slice())));
    }
  }

  function row(a) {
    const rate = column(a.name, "rate").at(-1) ?? 0;
    const failures = Object.entries(a.stats.failures).map(([k, v]) => `${k} ${v}`).join(", ");
    const state = a.stats.status.state + (a.stats.status.reason ? ": " + a.stats.status.reason : "");
    return el("tr", { "data-agent": a.name },
      el("td", {}, a.name), el("td", { class: "state " + a.stats.status.state }, state), el("td", {}, a.grants.join(", ")),
      el("td", { class: "num" }, a.stats.messages), el("td", { class: "num" }, rate.toFixed(1)),
      el("td", { class: "num" }, micros(a.stats.handle_time.p50_micros)),
      el("td", { class: "num" }, micros(a.stats.handle_time.p99_micros)),
      el("td", { class: "num" }, (a.stats.memory_high_water / 1048576).toFixed(2) + " MiB"),
      el("td", { class: "num" }, a.mailbox_depth), el("td", {}, failures));
  }

  return {
    // Poll the agents once: table, charts, and the names the other views offer.
    async refresh() {
      const { agents } = await Api.get("/v1/agents");
      record(agents, Date.now());
      document.querySelector("#agents-table tbody").replaceChildren(...agents.map(row));
      plot(agents);
      return agents.map((a) => a.name);
    },
  };
})();

const Conversations = {
  async refresh() {
    const { conversations } = await Api.get("/v1/conversations?limit=200");
    document.querySelector("#conversations-table tbody").replaceChildren(...conversations.map((c) =>
      el("tr", { "data-conversation": c.id, onclick: () => Conversations.open(c.id) },
        el("td", {}, c.id), el("td", {}, c.protocol ?? "–"), el("td", { class: "state " + c.state }, c.state),
        el("td", {}, c.initiator), el("td", { class: "num" }, c.message_count ?? ""))));
  },
  async open(id) {
    const c = await Api.get("/v1/conversations/" + encodeURIComponent(id));
    const exchanges = Object.entries(c.exchanges || {}).map(([who, e]) =>
      el("tr", {}, el("td", {}, who), el("td", {}, e.step), el("td", {}, e.reply_by ? clock(e.reply_by) : "")));
    const messages = (c.messages || []).map((m) =>
      el("tr", { class: m.outcome }, el("td", {}, clock(m.at_ms)), el("td", {}, m.performative), el("td", {}, m.sender),
        el("td", {}, m.receivers.join(", ")), el("td", {}, m.outcome + (m.reason ? ": " + m.reason : ""))));
    document.getElementById("conversation-detail").replaceChildren(
      el("h3", {}, `${c.id} — ${c.protocol ?? "no protocol"}, ${c.state}`),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Participant"), el("th", {}, "Step"),
        el("th", {}, "Reply by"))), el("tbody", {}, ...exchanges)),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Time"), el("th", {}, "Act"), el("th", {}, "From"),
        el("th", {}, "To"), el("th", {}, "Outcome"))), el("tbody", {}, ...messages)));
  },
};

const DeadLetters = {
  async refresh() {
    const { dead_letters } = await Api.get("/v1/dead-letters");
    document.querySelector("#dead-letters-table tbody").replaceChildren(...dead_letters.reverse().map((d) =>
      el("tr", { "data-dead-letter": d.id, onclick: () => {
        document.getElementById("dead-letter-detail").textContent = JSON.stringify(d, null, 2);
      } }, el("td", { class: "num" }, d.id), el("td", {}, d.reason), el("td", {}, d.message.sender ?? ""),
      el("td", {}, d.receiver), el("td", {}, d.message.performative), el("td", {}, d.detail))));
  },
};

const Logs = (() => {
  const SHOWN = 2000;   // lines the pane keeps
  let controller = null;
  let last = 0;

  function line(l) {
    const context = l.context ? l.context + ": " : "";
    return `${clock(l.at_ms)}  ${l.level.padEnd(8)} [${l.source}] ${context}${l.text}\n`;
  }

  function append(l) {
    if (l.seq <= last) return;
    last = l.seq;
    const pre = document.getElementById("logs-lines");
    pre.append(el("span", {}, line(l)));
    while (pre.childElementCount > SHOWN) pre.firstElementChild.remove();
    pre.scrollTop = pre.scrollHeight;
  }

  return {
    offer(names) {
      const select = document.getElementById("logs-agent");
      // rebuilt only when the agents change, so an open list is not snatched away by a refresh
      const offered = [...select.options].slice(1).map((o) => o.value);
      if (offered.length === names.length && offered.every((n, i) => n === names[i])) return;
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "" }, "— choose an agent —"),
        ...names.map((n) => el("option", { value: n }, n)));
      select.value = names.includes(chosen) ? chosen : "";
    },
    // Show `name`'s kept lines, then follow new ones.
    async follow(name) {
      if (controller) controller.abort();
      document.getElementById("logs-lines").replaceChildren();
      last = 0;
      if (!name) return;
      controller = new AbortController();
      // watch first and hold live lines until the kept ones are shown, so none is lost or dropped
      let held = [];
      Api.watch("kind=log&agent=" + encodeURIComponent(name), (kind, e) => {
        if (kind !== "log") return;
        if (held) held.push(e.line); else append(e.line);
      }, controller.signal);
      const { lines } = await Api.get(`/v1/agents/${name.split("/").map(encodeURIComponent).join("/")}/logs`);
      lines.forEach(append);
      held.forEach(append);
      held = null;
    },
  };
})();

const Composer = {
  PERFORMATIVES: ["request", "inform", "query-if", "query-ref", "cfp", "propose", "accept-proposal",
    "reject-proposal", "agree", "refuse", "failure", "subscribe", "cancel", "confirm", "disconfirm",
    "not-understood", "request-when", "request-whenever", "inform-if", "inform-ref", "propagate", "proxy",
    "call-for-proposal"],
  setup() {
    const select = document.getElementById("compose-performative");
    select.replaceChildren(...[...new Set(this.PERFORMATIVES)].filter((p) => p !== "call-for-proposal")
      .map((p) => el("option", { value: p }, p)));
    document.getElementById("composer").addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
  },
  async send() {
    const value = (id) => document.getElementById(id).value.trim();
    const text = document.getElementById("compose-content").value;
    let content;
    try { content = text.trim() === "" ? null : JSON.parse(text); } catch { content = text; }
    const message = { performative: value("compose-performative"),
      receivers: value("compose-receivers").split(",").map((r) => r.trim()).filter(Boolean), content };
    for (const [field, id] of [["protocol", "compose-protocol"], ["conversation_id", "compose-conversation"],
      ["reply_with", "compose-reply-with"]]) {
      if (value(id)) message[field] = value(id);
    }
    if (value("compose-reply-by")) message.reply_by = Date.now() + Number(value("compose-reply-by"));
    const wait = Number(value("compose-wait") || 0);
    const out = document.getElementById("compose-reply");
    out.textContent = "sending…";
    const { status, body } = await Api.request("POST", "/v1/messages" + (wait > 0 ? "?wait_ms=" + wait : ""), message);
    out.dataset.status = status;
    out.textContent = `${status}\n` + JSON.stringify(body, null, 2);
  },
};

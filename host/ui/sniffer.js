// The sniffer: a live sequence diagram of the messages among the chosen
// agents, drawn from the event stream. A lifeline per chosen agent (parties
// not chosen share the "others" lifeline), an arrow per message and receiver,
// coloured by outcome; clicking an arrow shows the whole message.
"use strict";

const Sniffer = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const KEEP = 300;        // arrows kept
  const COLUMN = 150;      // px between lifelines
  const LEFT = 70;         // px left of the first lifeline
  const ROW = 30;          // px between arrows
  const TOP = 24;          // px above the first arrow
  const OTHERS = "(others)";
  const CHOICES = 40;      // agents offered for ticking at most (the deployed ones first)
  const events = [];       // message events, oldest first
  const deployed = new Set(); // agents the server runs
  const hidden = new Set(); // parties unticked
  let controller = null;
  let pending = false;     // a redraw is scheduled
  let chosen = null;       // the clicked arrow, as "seq receiver", kept across redraws

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function lane(name) {
    return hidden.has(name) ? OTHERS : name;
  }

  // The agents offered: the deployed ones, then parties of the kept arrows, at most CHOICES.
  function renderChoices() {
    const box = document.getElementById("sniffer-agents");
    const seen = new Set(deployed);
    for (let i = events.length - 1; i >= 0 && seen.size < CHOICES; i--) {
      [events[i].message.sender, ...events[i].receivers].forEach((p) => seen.add(p));
    }
    const names = [...seen].slice(0, CHOICES).sort();
    if (box.dataset.names === names.join("\n")) return;
    box.dataset.names = names.join("\n");
    box.replaceChildren();
    for (const name of names) {
      const tick = el("input", { type: "checkbox", "data-agent": name });
      tick.checked = !hidden.has(name);
      tick.addEventListener("change", () => {
        if (tick.checked) hidden.delete(name); else hidden.add(name);
        draw();
      });
      box.append(el("label", { class: "choice" }, tick, name));
    }
  }

  // Redraw once per frame however many events arrived (a burst must not redraw per event).
  function schedule() {
    if (pending || document.getElementById("view-sniffer").hidden) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  function draw() {
    renderChoices();
    const diagram = document.getElementById("sniffer-diagram");
    const header = document.getElementById("sniffer-lanes");
    const lanes = [];
    for (const e of events) {
      for (const party of [e.message.sender, ...e.receivers]) {
        const l = lane(party);
        if (!lanes.includes(l)) lanes.push(l);
      }
    }
    const shown = events.filter((e) => [e.message.sender, ...e.receivers].some((p) => !hidden.has(p)));
    const x = (name) => LEFT + COLUMN * lanes.indexOf(lane(name));
    const rows = shown.reduce((n, e) => n + e.receivers.length, 0);
    const width = Math.max(400, 2 * LEFT + COLUMN * Math.max(0, lanes.length - 1));
    const height = TOP + ROW * rows;
    // the lane names stay in view (a sticky header) while the arrows scroll under them
    header.setAttribute("width", width);
    header.setAttribute("height", 26);
    header.replaceChildren(...lanes.map((name, i) =>
      svg("text", { x: LEFT + COLUMN * i, y: 18, class: "lane-name", "text-anchor": "middle" }, name)));
    diagram.setAttribute("width", width);
    diagram.setAttribute("height", height);
    diagram.replaceChildren(defs());
    lanes.forEach((_, i) => {
      const cx = LEFT + COLUMN * i;
      diagram.append(svg("line", { x1: cx, y1: 0, x2: cx, y2: height, class: "lifeline" }));
    });
    let y = TOP;
    for (const e of shown) {
      for (const receiver of e.receivers) {
        diagram.append(arrow(e, x(e.message.sender), x(receiver), y, receiver));
        y += ROW;
      }
    }
    document.getElementById("sniffer-canvas").scrollTop = height;
  }

  function defs() {
    const d = svg("defs", {});
    for (const outcome of ["delivered", "refused", "dead-lettered"]) {
      const marker = svg("marker", { id: "head-" + outcome, viewBox: "0 0 10 10", refX: 10, refY: 5,
        markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" });
      marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "head " + outcome }));
      d.append(marker);
    }
    return d;
  }

  function arrow(e, from, to, y, receiver) {
    const m = e.message;
    const key = e.seq + " " + receiver;
    const g = svg("g", { class: "arrow " + e.outcome + (key === chosen ? " chosen" : ""), "data-performative": m.performative,
      "data-from": m.sender, "data-to": receiver, "data-outcome": e.outcome });
    const label = m.performative + (e.reason ? " ✗ " + e.reason : "");
    if (from === to) {
      const path = `M ${from} ${y - 8} h 40 v 14 h -40`;
      g.append(svg("path", { d: path, class: "line", "marker-end": `url(#head-${e.outcome})`, fill: "none" }));
      g.append(svg("text", { x: from + 46, y: y }, label));
    } else {
      g.append(svg("line", { x1: from, y1: y, x2: to, y2: y, class: "line", "marker-end": `url(#head-${e.outcome})` }));
      g.append(svg("text", { x: (from + to) / 2, y: y - 5, "text-anchor": "middle" }, label));
    }
    // a wide transparent stroke makes the arrow easy to click
    g.append(svg("line", { x1: Math.min(from, to), y1: y, x2: Math.max(from, to) + (from === to ? 40 : 0), y2: y,
      class: "hit" }));
    g.append(svg("title", {}, `${clock(e.at_ms)} ${m.sender} → ${receiver}: ${label}`));
    g.addEventListener("click", () => {
      document.querySelectorAll("#sniffer-diagram .arrow.chosen").forEach((a) => a.classList.remove("chosen"));
      g.classList.add("chosen");
      chosen = key;
      document.getElementById("sniffer-detail").textContent = JSON.stringify(e, null, 2);
    });
    return g;
  }

  function add(e) {
    events.push(e);
    if (events.length > KEEP) events.splice(0, events.length - KEEP);
    schedule();
  }

  return {
    // Start following the stream (once, when the page opens: the diagram fills even while hidden).
    start() {
      if (controller) return;
      controller = new AbortController();
      Api.watch("kind=message", (name, data) => {
        if (name === "message") add(data);
        // the subscription is in place: what is sent from now on is drawn
        if (name === "ready") document.body.dataset.sniffing = "ready";
      }, controller.signal);
      document.getElementById("sniffer-clear").addEventListener("click", () => { events.length = 0; draw(); });
    },
    know(agents) {
      deployed.clear();
      agents.forEach((a) => deployed.add(a));
    },
    draw,
  };
})();

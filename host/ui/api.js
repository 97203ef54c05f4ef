// The dashboard's API client. The admin token is asked for once, kept in this
// tab's sessionStorage and sent as `Authorization: Bearer …` — never in a URL.
// The event stream is read with fetch(), because EventSource cannot send headers.
"use strict";

const Api = (() => {
  const KEY = "caxton-token";
  let asking = null;

  function headers(extra) {
    const all = Object.assign({}, extra);
    const token = sessionStorage.getItem(KEY);
    if (token) all.Authorization = "Bearer " + token;
    return all;
  }

  // Show the sign-in dialog; resolves once a token was entered.
  function askToken(message) {
    if (asking) return asking;
    const dialog = document.getElementById("login");
    const form = document.getElementById("login-form");
    document.getElementById("login-error").textContent = message || "";
    asking = new Promise((resolve) => {
      form.onsubmit = (e) => {
        e.preventDefault();
        sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
        dialog.close();
        asking = null;
        resolve();
      };
    });
    // Escape would leave every request waiting for a token nobody can enter
    dialog.oncancel = (e) => e.preventDefault();
    if (!dialog.open) dialog.showModal();
    return asking;
  }

  // One request; on 401 the token is asked for (again) and the request repeated.
  async function request(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
      if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
      const response = await fetch(path, init);
      if (response.status === 401) {
        await askToken(attempt === 0 && !sessionStorage.getItem(KEY) ? "" : "That token was not accepted.");
        continue;
      }
      const text = await response.text();
      let parsed;
      try { parsed = JSON.parse(text); } catch { parsed = text; }
      return { status: response.status, body: parsed };
    }
  }

  // GET `path` as JSON; a non-2xx answer throws with the server's message.
  async function get(path) {
    const { status, body } = await request("GET", path);
    if (status >= 300) {
      const message = body && body.error ? body.error.message : String(body);
      throw new Error(`${path}: ${status} ${message}`);
    }
    return body;
  }

  // Follow `/v1/events?query`, calling onEvent(name, data) for each event
  // until `signal` aborts; reconnects after a broken stream.
  async function watch(query, onEvent, signal) {
    while (!signal.aborted) {
      try {
        const response = await fetch("/v1/events?" + query, { headers: headers({}), signal });
        if (response.status === 401) { await askToken("That token was not accepted."); continue; }
        if (!response.ok) throw new Error("the event stream answered " + response.status);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            dispatch(frame, onEvent);
          }
        }
      } catch (e) {
        if (signal.aborted) return;
        console.warn("event stream:", e);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  // One SSE frame: `event:` and `data:` lines; comments (`:`) are skipped.
  function dispatch(frame, onEvent) {
    let name = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) return;
    let parsed;
    try { parsed = JSON.parse(data.join("\n")); } catch { return; }
    onEvent(name, parsed);
  }

  return { request, get, watch };
})();

// Small DOM helpers: every text a guest or client chose goes in as text, never as markup.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function clock(ms) {
  return new Date(ms).toISOString().slice(11, 23);
}

function micros(us) {
  if (us === null || us === undefined) return "–";
  return us >= 1000 ? (us / 1000).toFixed(1) + " ms" : us + " µs";
}

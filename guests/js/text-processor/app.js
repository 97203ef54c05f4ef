// The product guide's text processor, in JavaScript: uppercase, lowercase and
// reverse text, `get_status`; unknown actions get not-understood, malformed
// data failure. Built by `just build-guests` with componentize-qjs (QuickJS).
import { send } from "caxton:agent/messaging@0.1.0";
import { answering, reply } from "../caxton.js";
import { nowMs } from "caxton:agent/timers@0.1.0";

let processed = 0;

const operations = {
  uppercase: (s) => s.toUpperCase(),
  lowercase: (s) => s.toLowerCase(),
  reverse: (s) => [...s].reverse().join(""),
};

function process(data) {
  if (data === null || typeof data !== "object" || typeof data.operation !== "string") {
    throw new Error("data.operation must be a string");
  }
  const text = data.data ?? data.text;
  if (typeof text !== "string") throw new Error("data.data must be a string");
  const op = operations[data.operation];
  if (!op) throw new Error(`unknown operation \`${data.operation}\`; use uppercase, lowercase or reverse`);
  processed += 1;
  return { result: op(text), timestamp: Number(nowMs()) };
}

export const guest = answering(send, (msg, content, act) => {
  if (act === "process_data") {
    try {
      return reply(msg, "inform", { result: process(content.data) });
    } catch (e) {
      return reply(msg, "failure", { error: e.message });
    }
  }
  if (act === "get_status") {
    return reply(msg, "inform", { result: { status: "ready", processed, version: "0.1.0" } });
  }
  return reply(msg, "not-understood", { error: "expected a request with action `process_data` or `get_status`" });
});

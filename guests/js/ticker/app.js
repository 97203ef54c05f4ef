// The ticker agent in JavaScript: sets a timer on request and answers when it fires.
import { send } from "caxton:agent/messaging@0.1.0";
import { action, json, profile, reply } from "../caxton.js";
import { setTimer, nowMs } from "caxton:agent/timers@0.1.0";

const waiting = new Map();

export const guest = {
  init() {},
  handleMessage(msg) {
    const content = json(msg);
    if (action(msg) === "schedule") {
      const id = setTimer(content.delay_ms ?? 10);
      waiting.set(id, msg);
    } else {
      send(reply(msg, "not-understood", { error: "expected a request with action `schedule`" }));
    }
  },
  handleTimer(id) {
    const request = waiting.get(id);
    if (request) {
      waiting.delete(id);
      send(reply(request, "inform", { result: { timer: Number(id), fired_at_ms: Number(nowMs()) } }));
    }
  },
  shutdown() {},
  capabilities: profile,
};

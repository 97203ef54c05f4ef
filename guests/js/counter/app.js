// The counter agent in JavaScript: counts in its kv-store, so the count outlives the instance.
import { send } from "caxton:agent/messaging@0.1.0";
import { action, json, profile, reply } from "../caxton.js";
import { increment, get } from "caxton:agent/kv-store@0.1.0";

export const guest = {
  init() {},
  handleMessage(msg) {
    const content = json(msg);
    const act = action(msg);
    let out;
    try {
      if (act === "increment") {
        const count = increment("count", content.by ?? 1);
        out = reply(msg, "inform", { result: { count: Number(count) } });
      } else if (act === "get") {
        const stored = get("count");
        const count = stored && stored.length === 8 ? new DataView(stored.buffer, stored.byteOffset, 8).getBigInt64(0, true) : 0;
        out = reply(msg, "inform", { result: { count: Number(count) } });
      } else {
        out = reply(msg, "not-understood", { error: "expected a request with action `increment` or `get`" });
      }
    } catch (e) {
      out = reply(msg, "failure", { error: String(e && e.payload ? JSON.stringify(e.payload) : e) });
    }
    send(out);
  },
  handleTimer(_id) {},
  shutdown() {},
  capabilities: profile,
};

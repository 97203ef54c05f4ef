// The counter agent in JavaScript: counts in its kv-store, so the count outlives the instance.
import { send } from "caxton:agent/messaging@0.1.0";
import { answering, reply } from "../caxton.js";
import { increment, get } from "caxton:agent/kv-store@0.1.0";

export const guest = answering(send, (msg, content, act) => {
  try {
    if (act === "increment") {
      const count = increment("count", content.by ?? 1);
      return reply(msg, "inform", { result: { count: Number(count) } });
    }
    if (act === "get") {
      const stored = get("count");
      const count = stored && stored.length === 8 ? new DataView(stored.buffer, stored.byteOffset, 8).getBigInt64(0, true) : 0;
      return reply(msg, "inform", { result: { count: Number(count) } });
    }
    return reply(msg, "not-understood", { error: "expected a request with action `increment` or `get`" });
  } catch (e) {
    return reply(msg, "failure", { error: String(e && e.payload ? JSON.stringify(e.payload) : e) });
  }
});

// The counter agent in JavaScript: counts in its kv-store, so the count outlives the instance.
import { send } from "caxton:agent/messaging@0.1.0";
import { increment, get } from "caxton:agent/kv-store@0.1.0";

function reply(msg, performative, content) {
  return {
    performative, sender: "", receivers: [msg.sender], content: JSON.stringify(content),
    language: undefined, encoding: undefined, ontology: msg.ontology, protocol: msg.protocol,
    conversationId: msg.conversationId, replyWith: undefined, inReplyTo: msg.replyWith, replyBy: undefined,
  };
}

export const guest = {
  init() {},
  handleMessage(msg) {
    let content = null;
    try { content = JSON.parse(msg.content); } catch (_) { content = null; }
    const action = content !== null && typeof content === "object" ? content.action : undefined;
    const request = msg.performative === "request";
    let out;
    try {
      if (request && action === "increment") {
        const count = increment("count", content.by ?? 1);
        out = reply(msg, "inform", { result: { count: Number(count) } });
      } else if (request && action === "get") {
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
  capabilities() {
    return { version: "0.1.0", performatives: ["request"], protocols: ["fipa-request"], ontologies: [], services: [] };
  },
};

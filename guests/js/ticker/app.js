// The ticker agent in JavaScript: sets a timer on request and answers when it fires.
import { send } from "caxton:agent/messaging@0.1.0";
import { setTimer, nowMs } from "caxton:agent/timers@0.1.0";

const waiting = new Map();

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
    if (msg.performative === "request" && content && content.action === "schedule") {
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
  capabilities() {
    return { version: "0.1.0", performatives: ["request"], protocols: ["fipa-request"], ontologies: [], services: [] };
  },
};

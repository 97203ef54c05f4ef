// Helpers shared by Caxton's JavaScript agents.

/** An answer to `msg`: to its sender, in its conversation, answering its reply-with. */
export function reply(msg, performative, content) {
  return {
    performative, sender: "", receivers: [msg.sender], content: JSON.stringify(content),
    language: undefined, encoding: undefined, ontology: msg.ontology, protocol: msg.protocol,
    conversationId: msg.conversationId, replyWith: undefined, inReplyTo: msg.replyWith, replyBy: undefined,
  };
}

/** The content as JSON, or `null` when it is not JSON. */
export function json(msg) {
  try { return JSON.parse(msg.content); } catch (_) { return null; }
}

/** What every request-answering agent registers about itself. */
export function profile() {
  return { version: "0.1.0", performatives: ["request"], protocols: ["fipa-request"], ontologies: [], services: [] };
}

/** The `action` of a request's JSON content, or `undefined`. */
export function action(msg) {
  const content = json(msg);
  return msg.performative === "request" && content !== null && typeof content === "object" ? content.action : undefined;
}

/**
 * A guest that answers each message with what `answer(msg, content, action)`
 * returns, sent with `send`; no timers, nothing to set up or tear down.
 */
export function answering(send, answer) {
  return {
    init() {},
    handleMessage(msg) {
      send(answer(msg, json(msg), action(msg)));
    },
    handleTimer(_id) {},
    shutdown() {},
    capabilities: profile,
  };
}

// The counter agent in AssemblyScript: counts in its kv-store, so the count outlives the instance.
import { JSON } from "json-as";
import { Agent, Message, Performative, integer, kvIncrement, register, send } from "../caxton";
export * from "../caxton/exports";

/** `{"result": {"count": count}}` as JSON text. */
function counted(count: i64): string {
  const result = new JSON.Obj();
  result.set("count", count);
  const out = new JSON.Obj();
  out.set("result", result);
  return JSON.stringify(out);
}

class Counter extends Agent {
  handleMessage(msg: Message): string | null {
    const action = msg.action();
    let answer: Message;
    if (action == "increment" || action == "get") {
      // `get` adds nothing: the count as it is
      const by = action == "increment" ? integer(msg.object()!.get("by"), 1) : 0;
      const count = kvIncrement("count", by);
      answer = count.error === null
        ? msg.reply(Performative.Inform, counted(count.value))
        : msg.reply(Performative.Failure, '{"error":' + JSON.stringify(count.error!.toString()) + "}");
    } else {
      answer = msg.reply(Performative.NotUnderstood, '{"error":"expected a request with action `increment` or `get`"}');
    }
    const failed = send(answer);
    return failed === null ? null : failed.toString();
  }
}

register(new Counter());

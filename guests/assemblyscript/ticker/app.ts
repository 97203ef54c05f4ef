// The ticker agent in AssemblyScript: sets a timer on request and answers when it fires.
import { JSON } from "json-as";
import { Agent, Message, Performative, integer, nowMs, register, send, setTimer } from "../caxton";
export * from "../caxton/exports";

// the request each pending timer answers
const waiting = new Map<u64, Message>();

class Ticker extends Agent {
  handleMessage(msg: Message): string | null {
    if (msg.action() != "schedule") {
      const failed = send(msg.reply(Performative.NotUnderstood, '{"error":"expected a request with action `schedule`"}'));
      return failed === null ? null : failed.toString();
    }
    const timer = setTimer(<u64>max<i64>(0, integer(msg.object()!.get("delay_ms"), 10)));
    if (timer.error !== null) return timer.error!.toString();
    waiting.set(timer.id, msg);
    return null;
  }

  handleTimer(id: u64): string | null {
    if (!waiting.has(id)) return null;
    const request = waiting.get(id);
    waiting.delete(id);
    const result = new JSON.Obj();
    result.set("timer", id);
    result.set("fired_at_ms", nowMs());
    const out = new JSON.Obj();
    out.set("result", result);
    const failed = send(request.reply(Performative.Inform, JSON.stringify(out)));
    return failed === null ? null : failed.toString();
  }
}

register(new Ticker());

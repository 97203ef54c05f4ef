// The product guide's text processor, in AssemblyScript: uppercase, lowercase
// and reverse text, `get_status`; unknown actions get not-understood,
// malformed data failure. Built by `just build-guests` with `caxton build`.
import { JSON } from "json-as";
import { Agent, Message, Performative, nowMs, register, send } from "../caxton";
export * from "../caxton/exports";

let processed = 0;

/** `{"result": value}` as JSON text. */
function result(value: JSON.Obj): string {
  const out = new JSON.Obj();
  out.set("result", value);
  return JSON.stringify(out);
}

/** `{"error": text}` as JSON text. */
function error(text: string): string {
  const out = new JSON.Obj();
  out.set("error", text);
  return JSON.stringify(out);
}

/** The code points of `text` in reverse order. */
function reversed(text: string): string {
  const points: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const pair = unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length;
    points.push(pair ? text.substring(i, i + 2) : text.charAt(i));
    if (pair) i++;
  }
  return points.reverse().join("");
}

/** The reply content to a `process_data` request with `data`, and whether it is an error. */
class Outcome {
  constructor(public content: string, public failed: bool) {}
}

function processData(data: JSON.Value | null): Outcome {
  if (data === null || data.type != JSON.Types.Object) return new Outcome(error("data must be an object"), true);
  const fields = data.get<JSON.Obj>();
  const operation = fields.get("operation");
  if (operation === null || operation.type != JSON.Types.String) {
    return new Outcome(error("data.operation must be a string"), true);
  }
  let text = fields.get("data");
  if (text === null) text = fields.get("text");
  if (text === null || text.type != JSON.Types.String) return new Outcome(error("data.data must be a string"), true);
  const input = text.get<string>();
  const op = operation.get<string>();
  let output: string;
  if (op == "uppercase") output = input.toUpperCase();
  else if (op == "lowercase") output = input.toLowerCase();
  else if (op == "reverse") output = reversed(input);
  else return new Outcome(error("unknown operation `" + op + "`; use uppercase, lowercase or reverse"), true);
  processed += 1;
  const done = new JSON.Obj();
  done.set("result", output);
  done.set("timestamp", nowMs());
  return new Outcome(result(done), false);
}

class TextProcessor extends Agent {
  handleMessage(msg: Message): string | null {
    const action = msg.action();
    let answer: Message;
    if (action == "process_data") {
      const outcome = processData(msg.object()!.get("data"));
      answer = msg.reply(outcome.failed ? Performative.Failure : Performative.Inform, outcome.content);
    } else if (action == "get_status") {
      const status = new JSON.Obj();
      status.set("status", "ready");
      status.set("processed", processed);
      status.set("version", "0.1.0");
      answer = msg.reply(Performative.Inform, result(status));
    } else {
      answer = msg.reply(
        Performative.NotUnderstood,
        error("expected a request with action `process_data` or `get_status`"),
      );
    }
    const failed = send(answer);
    return failed === null ? null : failed.toString();
  }
}

register(new TextProcessor());

// Write Caxton agents in AssemblyScript. An agent module:
//
//   import { Agent, Message, Performative, register, send } from "./caxton";
//   export * from "./caxton/exports"; // the guest interface the host calls
//
//   class Echo extends Agent {
//     handleMessage(msg: Message): string | null {
//       const failed = send(msg.reply(Performative.Inform, msg.content));
//       return failed === null ? null : failed.toString();
//     }
//   }
//   register(new Echo());
//
// `caxton build` compiles it (asc, with the json-as transform) and makes it a
// component of the `caxton:agent` world that imports only what it calls.
export { Agent, Profile, Service, register } from "./guest";
export { Message, Performative, integer, performativeName } from "./message";
export {
  HostError, KvResult, Level, TimerResult, cancelTimer, kvDelete, kvGet, kvIncrement, kvSet, log, nowMs, selfId,
  send, setTimer,
} from "./host";

// The capabilities an agent calls: `messaging`, `timers`, `logging` and
// `kv-store` of `caxton:agent`. A module imports only the functions it uses,
// so an agent needs only the grants of the capabilities it calls.
import { Lent, takeByteList, takeBytes, takeString } from "./abi";
import { Message, lowerMessage, performativeName, Performative } from "./message";

// One return area for every import call (the agent runs one call at a time).
const RET: usize = memory.data(64, 8);

@external("caxton:agent/messaging@0.1.0", "send")
declare function hostSend(msg: usize, ret: usize): void;
@external("caxton:agent/messaging@0.1.0", "self-id")
declare function hostSelfId(ret: usize): void;
@external("caxton:agent/timers@0.1.0", "set-timer")
declare function hostSetTimer(delayMs: u64, ret: usize): void;
@external("caxton:agent/timers@0.1.0", "cancel-timer")
declare function hostCancelTimer(id: u64): bool;
@external("caxton:agent/timers@0.1.0", "now-ms")
declare function hostNowMs(): u64;
@external("caxton:agent/logging@0.1.0", "log")
declare function hostLog(level: u8, context: usize, contextLength: usize, message: usize, messageLength: usize): void;
@external("caxton:agent/kv-store@0.1.0", "get")
declare function hostKvGet(key: usize, keyLength: usize, ret: usize): void;
@external("caxton:agent/kv-store@0.1.0", "set")
declare function hostKvSet(key: usize, keyLength: usize, value: usize, valueLength: usize, ret: usize): void;
@external("caxton:agent/kv-store@0.1.0", "delete")
declare function hostKvDelete(key: usize, keyLength: usize, ret: usize): void;
@external("caxton:agent/kv-store@0.1.0", "increment")
declare function hostKvIncrement(key: usize, keyLength: usize, delta: i64, ret: usize): void;

/** Why the host refused a call: the WIT case's name (`mailbox-full`, `quota-exceeded`…) and its payload as text. */
export class HostError {
  constructor(public kind: string, public detail: string = "") {}

  toString(): string {
    return this.detail.length > 0 ? this.kind + ": " + this.detail : this.kind;
  }
}

const SEND_ERRORS: string[] = [
  "no-receivers", "no-such-agent", "mailbox-full", "access-denied", "too-large", "rate-limited", "protocol-violation",
];

/** Queue `msg` for every one of its receivers; `null` when it was, else why not (`send-error`). */
export function send(msg: Message): HostError | null {
  const lent = new Lent();
  hostSend(lowerMessage(msg, lent), RET);
  lent.free();
  if (load<u8>(RET) == 0) return null;
  const kind = load<u8>(RET, 8);
  const name = SEND_ERRORS[<i32>kind];
  const payload = RET + 16;
  if (kind == 1 || kind == 2 || kind == 3) return new HostError(name, takeString(payload));
  if (kind == 4) return new HostError(name, load<u64>(payload).toString());
  if (kind == 5) return new HostError(name, load<u32>(payload).toString());
  if (kind == 6) {
    // protocol-violation { protocol, state, allowed, breach, reason }: the reason says it all
    takeString(payload);
    takeString(payload + 8);
    takeByteList(payload + 16);
    return new HostError(name, takeString(payload + 28));
  }
  return new HostError(name);
}

/** This agent's own name (`TYPE/KEY` for an instance of an agent type). */
export function selfId(): string {
  hostSelfId(RET);
  return takeString(RET);
}

/** A timer id, or why the timer was not set (`too-many-timers`, `invalid-delay`). */
export class TimerResult {
  constructor(public id: u64, public error: HostError | null = null) {}
}

/** Call `handleTimer` once, `delayMs` milliseconds from now. Needs the `timers` grant. */
export function setTimer(delayMs: u64): TimerResult {
  hostSetTimer(delayMs, RET);
  if (load<u8>(RET) == 0) return new TimerResult(load<u64>(RET, 8));
  const kind = load<u8>(RET, 8);
  if (kind == 0) return new TimerResult(0, new HostError("too-many-timers", load<u32>(RET, 12).toString()));
  return new TimerResult(0, new HostError("invalid-delay", takeString(RET + 12)));
}

/** Cancel a timer that has not fired; whether it had not. */
export function cancelTimer(id: u64): bool {
  return hostCancelTimer(id);
}

/** The host's wall-clock time in milliseconds since the Unix epoch. */
export function nowMs(): u64 {
  return hostNowMs();
}

/** Log levels, least to most important (`caxton:agent/logging.level`). */
export enum Level { Trace, Debug, Info, Warn, Error, Critical }

/** Write a record to the host's log; `context` names what it is about. Needs the `logging` grant. */
export function log(level: Level, context: string, message: string): void {
  const lent = new Lent();
  const at = lent.alloc(16);
  lent.string(at, context);
  lent.string(at + 8, message);
  hostLog(<u8>level, load<u32>(at), load<u32>(at, 4), load<u32>(at, 8), load<u32>(at, 12));
  lent.free();
}

const KV_ERRORS: string[] = ["invalid-key", "value-too-large", "quota-exceeded", "not-a-number", "storage"];

/** The `kv-error` whose case byte is at `at` (payload 4 bytes on). */
function kvError(at: usize): HostError {
  const kind = load<u8>(at);
  const name = KV_ERRORS[<i32>kind];
  if (kind == 0 || kind == 1) return new HostError(name, load<u32>(at, 4).toString());
  if (kind == 2 || kind == 4) return new HostError(name, takeString(at + 4));
  return new HostError(name);
}

/** What a kv-store call gave: `value` when `error` is `null`. */
export class KvResult<T> {
  constructor(public value: T, public error: HostError | null = null) {}
}

/** `key` lowered into a block of `lent`: the address of its (pointer, length). */
function lowerKey(key: string, lent: Lent): usize {
  const at = lent.alloc(8);
  lent.string(at, key);
  return at;
}

/** The value stored under `key` (`null` when none). Needs the `kv-store` grant. */
export function kvGet(key: string): KvResult<Uint8Array | null> {
  const lent = new Lent();
  const at = lowerKey(key, lent);
  hostKvGet(load<u32>(at), load<u32>(at, 4), RET);
  lent.free();
  if (load<u8>(RET) != 0) return new KvResult<Uint8Array | null>(null, kvError(RET + 4));
  return new KvResult<Uint8Array | null>(load<u8>(RET, 4) == 0 ? null : takeBytes(RET + 8));
}

/** Store `value` under `key`, replacing any previous value. */
export function kvSet(key: string, value: Uint8Array): HostError | null {
  const lent = new Lent();
  const at = lowerKey(key, lent);
  const data = lent.alloc(8);
  lent.bytes(data, value);
  hostKvSet(load<u32>(at), load<u32>(at, 4), load<u32>(data), load<u32>(data, 4), RET);
  lent.free();
  return load<u8>(RET) == 0 ? null : kvError(RET + 4);
}

/** Remove `key`; whether it existed. */
export function kvDelete(key: string): KvResult<bool> {
  const lent = new Lent();
  const at = lowerKey(key, lent);
  hostKvDelete(load<u32>(at), load<u32>(at, 4), RET);
  lent.free();
  if (load<u8>(RET) != 0) return new KvResult<bool>(false, kvError(RET + 4));
  return new KvResult<bool>(load<u8>(RET, 4) != 0);
}

/** Atomically add `delta` to the signed 64-bit integer under `key` (absent is 0; the sum wraps
 *  around); the new value. */
export function kvIncrement(key: string, delta: i64): KvResult<i64> {
  const lent = new Lent();
  const at = lowerKey(key, lent);
  hostKvIncrement(load<u32>(at), load<u32>(at, 4), delta, RET);
  lent.free();
  if (load<u8>(RET) != 0) return new KvResult<i64>(0, kvError(RET + 8));
  return new KvResult<i64>(load<i64>(RET, 8));
}

export { Message, Performative, performativeName };

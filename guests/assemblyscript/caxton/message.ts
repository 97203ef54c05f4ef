// FIPA ACL messages (`caxton:agent/types.message`) and their layout in memory.
import { JSON } from "json-as";
import { validateJSON } from "json-as/assembly/util/validateJson";
import { Lent, takeOption, takeString, takeStrings } from "./abi";

/** The 22 communicative acts of the FIPA ACL Communicative Act Library (SC00037J), in WIT order. */
export enum Performative {
  AcceptProposal, Agree, Cancel, Cfp, Confirm, Disconfirm, Failure, Inform, InformIf, InformRef,
  NotUnderstood, Propagate, Propose, Proxy, QueryIf, QueryRef, Refuse, RejectProposal, Request,
  RequestWhen, RequestWhenever, Subscribe,
}

const PERFORMATIVE_NAMES: string[] = [
  "accept-proposal", "agree", "cancel", "cfp", "confirm", "disconfirm", "failure", "inform", "inform-if",
  "inform-ref", "not-understood", "propagate", "propose", "proxy", "query-if", "query-ref", "refuse",
  "reject-proposal", "request", "request-when", "request-whenever", "subscribe",
];

/** The FIPA name of `act`, e.g. `not-understood`. */
export function performativeName(act: Performative): string {
  return PERFORMATIVE_NAMES[<i32>act];
}

/** A FIPA ACL message. Absent optional fields are `null`; `replyBy` 0 means none. */
export class Message {
  performative: Performative = Performative.Inform;
  /** Who sent it; the host stamps the true sender on every send. */
  sender: string = "";
  receivers: string[] = [];
  /** The body; by convention JSON unless `language` says otherwise. */
  content: string = "";
  language: string | null = null;
  encoding: string | null = null;
  ontology: string | null = null;
  protocol: string | null = null;
  conversationId: string | null = null;
  replyWith: string | null = null;
  inReplyTo: string | null = null;
  /** Milliseconds since the Unix epoch by which a reply is expected; 0 when none. */
  replyBy: u64 = 0;
  private parsed: bool = false;
  private value: JSON.Value | null = null;

  /** The content parsed as JSON, or `null` when it is not valid JSON (parsed once). */
  json(): JSON.Value | null {
    if (!this.parsed) {
      this.parsed = true;
      this.value = validateJSON(this.content) ? JSON.parse<JSON.Value>(this.content) : null;
    }
    return this.value;
  }

  /** The content's JSON object, or `null` when the content is not a JSON object. */
  object(): JSON.Obj | null {
    const value = this.json();
    if (value === null || value.type != JSON.Types.Object) return null;
    return value.get<JSON.Obj>();
  }

  /** A request's `action` (a string field of its JSON object content), or `null`. */
  action(): string | null {
    if (this.performative != Performative.Request) return null;
    const content = this.object();
    if (content === null) return null;
    const action = content.get("action");
    if (action === null || action.type != JSON.Types.String) return null;
    return action.get<string>();
  }

  /** An answer to this message: to its sender, in its conversation and protocol, answering its reply-with. */
  reply(performative: Performative, content: string): Message {
    const answer = new Message();
    answer.performative = performative;
    answer.receivers = [this.sender];
    answer.content = content;
    answer.ontology = this.ontology;
    answer.protocol = this.protocol;
    answer.conversationId = this.conversationId;
    answer.inReplyTo = this.replyWith;
    return answer;
  }
}

/** The integer in `value` (a JSON number, truncated), or `fallback` when it is absent or not a number. */
export function integer(value: JSON.Value | null, fallback: i64): i64 {
  if (value === null) return fallback;
  const type = value.type;
  if (type == JSON.Types.F64) return <i64>value.get<f64>();
  if (type == JSON.Types.F32) return <i64>value.get<f32>();
  if (type == JSON.Types.I64 || type == JSON.Types.U64) return value.get<i64>();
  if (type == JSON.Types.I32 || type == JSON.Types.U32) return <i64>value.get<i32>();
  return fallback;
}

/** Size and alignment of `message` in the canonical ABI. */
export const MESSAGE_SIZE: usize = 128;
export const MESSAGE_ALIGN: usize = 8;
// offsets of the seven option<string> fields, language … in-reply-to
const LANGUAGE: usize = 28;
const ENCODING: usize = 40;
const ONTOLOGY: usize = 52;
const PROTOCOL: usize = 64;
const CONVERSATION: usize = 76;
const REPLY_WITH: usize = 88;
const IN_REPLY_TO: usize = 100;
const REPLY_BY: usize = 112;

/** Write `msg` into a block of `lent`; its address. */
export function lowerMessage(msg: Message, lent: Lent): usize {
  const at = lent.alloc(MESSAGE_SIZE);
  store<u8>(at, <u8>msg.performative);
  lent.string(at + 4, msg.sender);
  lent.strings(at + 12, msg.receivers);
  lent.string(at + 20, msg.content);
  lent.option(at + LANGUAGE, msg.language);
  lent.option(at + ENCODING, msg.encoding);
  lent.option(at + ONTOLOGY, msg.ontology);
  lent.option(at + PROTOCOL, msg.protocol);
  lent.option(at + CONVERSATION, msg.conversationId);
  lent.option(at + REPLY_WITH, msg.replyWith);
  lent.option(at + IN_REPLY_TO, msg.inReplyTo);
  store<u8>(at + REPLY_BY, msg.replyBy == 0 ? 0 : 1);
  store<u64>(at + REPLY_BY, msg.replyBy, 8);
  return at;
}

/** Read the message the host placed at `at`, freeing what it allocated. */
export function liftMessage(at: usize): Message {
  const msg = new Message();
  msg.performative = <Performative>load<u8>(at);
  msg.sender = takeString(at + 4);
  msg.receivers = takeStrings(at + 12);
  msg.content = takeString(at + 20);
  msg.language = takeOption(at + LANGUAGE);
  msg.encoding = takeOption(at + ENCODING);
  msg.ontology = takeOption(at + ONTOLOGY);
  msg.protocol = takeOption(at + PROTOCOL);
  msg.conversationId = takeOption(at + CONVERSATION);
  msg.replyWith = takeOption(at + REPLY_WITH);
  msg.inReplyTo = takeOption(at + IN_REPLY_TO);
  msg.replyBy = load<u8>(at + REPLY_BY) == 0 ? 0 : load<u64>(at + REPLY_BY, 8);
  heap.free(at);
  return msg;
}

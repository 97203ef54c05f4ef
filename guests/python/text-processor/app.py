"""The product guide's text processor, in Python: uppercase, lowercase and
reverse text, `get_status`; unknown actions get not-understood, malformed
data failure. Built by `just build-guests` with componentize-py and
`--stub-wasi` (no WASI at all: the clock comes from Caxton's `timers`)."""
import json

from wit_world import exports
from wit_world.imports import messaging, timers, types

processed = 0


def reply(msg, performative, content):
    """An answer to `msg`: to its sender, in its conversation, answering its reply-with."""
    return types.Message(
        performative=performative, sender="", receivers=[msg.sender], content=json.dumps(content),
        language=None, encoding=None, ontology=msg.ontology, protocol=msg.protocol,
        conversation_id=msg.conversation_id, reply_with=None, in_reply_to=msg.reply_with, reply_by=None)


def process(data):
    global processed
    if not isinstance(data, dict) or not isinstance(data.get("operation"), str):
        raise ValueError("data.operation must be a string")
    text = data.get("data", data.get("text"))
    if not isinstance(text, str):
        raise ValueError("data.data must be a string")
    operations = {"uppercase": str.upper, "lowercase": str.lower, "reverse": lambda s: s[::-1]}
    if data["operation"] not in operations:
        raise ValueError(f"unknown operation `{data['operation']}`; use uppercase, lowercase or reverse")
    processed += 1
    return {"result": operations[data["operation"]](text), "timestamp": timers.now_ms()}


class Guest(exports.Guest):
    def init(self):
        pass

    def handle_message(self, msg):
        try:
            content = json.loads(msg.content)
        except ValueError:
            content = None
        action = content.get("action") if isinstance(content, dict) else None
        request = msg.performative == types.Performative.REQUEST
        if request and action == "process_data":
            try:
                out = reply(msg, types.Performative.INFORM, {"result": process(content.get("data"))})
            except ValueError as e:
                out = reply(msg, types.Performative.FAILURE, {"error": str(e)})
        elif request and action == "get_status":
            status = {"status": "ready", "processed": processed, "version": "0.1.0"}
            out = reply(msg, types.Performative.INFORM, {"result": status})
        else:
            out = reply(msg, types.Performative.NOT_UNDERSTOOD,
                        {"error": "expected a request with action `process_data` or `get_status`"})
        messaging.send(out)

    def handle_timer(self, id):
        pass

    def shutdown(self):
        pass

    def capabilities(self):
        return types.AgentProfile(version="0.1.0", performatives=[types.Performative.REQUEST],
                                  protocols=["fipa-request"], ontologies=[], services=[])

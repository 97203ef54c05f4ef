"""The product guide's text processor, in Python: uppercase, lowercase and
reverse text, `get_status`; unknown actions get not-understood, malformed
data failure. Built by `just build-guests` with componentize-py and
`--stub-wasi` (no WASI at all: the clock comes from Caxton's `timers`)."""
from caxton_helpers import Agent, action, json_content, reply
from wit_world.imports import messaging, timers, types

processed = 0


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


class Guest(Agent):
    def handle_message(self, msg):
        act = action(msg)
        if act == "process_data":
            try:
                out = reply(msg, types.Performative.INFORM, {"result": process(json_content(msg).get("data"))})
            except ValueError as e:
                out = reply(msg, types.Performative.FAILURE, {"error": str(e)})
        elif act == "get_status":
            status = {"status": "ready", "processed": processed, "version": "0.1.0"}
            out = reply(msg, types.Performative.INFORM, {"result": status})
        else:
            out = reply(msg, types.Performative.NOT_UNDERSTOOD,
                        {"error": "expected a request with action `process_data` or `get_status`"})
        messaging.send(out)

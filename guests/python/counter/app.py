"""The counter agent in Python: counts in its kv-store, so the count outlives the instance."""
from caxton_helpers import Agent, action, json_content, reply
from componentize_py_types import Err
from wit_world.imports import kv_store, messaging, types


class Guest(Agent):
    def handle_message(self, msg):
        act = action(msg)
        try:
            if act == "increment":
                count = kv_store.increment("count", int(json_content(msg).get("by", 1)))
                out = reply(msg, types.Performative.INFORM, {"result": {"count": count}})
            elif act == "get":
                stored = kv_store.get("count")
                count = int.from_bytes(stored, "little", signed=True) if stored and len(stored) == 8 else 0
                out = reply(msg, types.Performative.INFORM, {"result": {"count": count}})
            else:
                out = reply(msg, types.Performative.NOT_UNDERSTOOD,
                            {"error": "expected a request with action `increment` or `get`"})
        except Err as e:
            out = reply(msg, types.Performative.FAILURE, {"error": str(e.value)})
        messaging.send(out)

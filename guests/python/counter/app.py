"""The counter agent in Python: counts in its kv-store, so the count outlives the instance."""
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import kv_store, messaging, types


def reply(msg, performative, content):
    return types.Message(
        performative=performative, sender="", receivers=[msg.sender], content=json.dumps(content),
        language=None, encoding=None, ontology=msg.ontology, protocol=msg.protocol,
        conversation_id=msg.conversation_id, reply_with=None, in_reply_to=msg.reply_with, reply_by=None)


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
        try:
            if request and action == "increment":
                count = kv_store.increment("count", int(content.get("by", 1)))
                out = reply(msg, types.Performative.INFORM, {"result": {"count": count}})
            elif request and action == "get":
                stored = kv_store.get("count")
                count = int.from_bytes(stored, "little", signed=True) if stored and len(stored) == 8 else 0
                out = reply(msg, types.Performative.INFORM, {"result": {"count": count}})
            else:
                out = reply(msg, types.Performative.NOT_UNDERSTOOD,
                            {"error": "expected a request with action `increment` or `get`"})
        except Err as e:
            out = reply(msg, types.Performative.FAILURE, {"error": str(e.value)})
        messaging.send(out)

    def handle_timer(self, id):
        pass

    def shutdown(self):
        pass

    def capabilities(self):
        return types.AgentProfile(version="0.1.0", performatives=[types.Performative.REQUEST],
                                  protocols=["fipa-request"], ontologies=[], services=[])

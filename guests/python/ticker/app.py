"""The ticker agent in Python: sets a timer on request and answers when it fires."""
import json

from wit_world import exports
from wit_world.imports import messaging, timers, types

waiting = {}


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
        if msg.performative == types.Performative.REQUEST and action == "schedule":
            timer = timers.set_timer(int(content.get("delay_ms", 10)))
            waiting[timer] = msg
        else:
            messaging.send(reply(msg, types.Performative.NOT_UNDERSTOOD,
                                 {"error": "expected a request with action `schedule`"}))

    def handle_timer(self, id):
        request = waiting.pop(id, None)
        if request is not None:
            messaging.send(reply(request, types.Performative.INFORM,
                                 {"result": {"timer": id, "fired_at_ms": timers.now_ms()}}))

    def shutdown(self):
        pass

    def capabilities(self):
        return types.AgentProfile(version="0.1.0", performatives=[types.Performative.REQUEST],
                                  protocols=["fipa-request"], ontologies=[], services=[])

"""The ticker agent in Python: sets a timer on request and answers when it fires."""
from caxton_helpers import Agent, action, json_content, reply
from wit_world.imports import messaging, timers, types

waiting = {}


class Guest(Agent):
    def handle_message(self, msg):
        if action(msg) == "schedule":
            timer = timers.set_timer(int(json_content(msg).get("delay_ms", 10)))
            waiting[timer] = msg
        else:
            messaging.send(reply(msg, types.Performative.NOT_UNDERSTOOD,
                                 {"error": "expected a request with action `schedule`"}))

    def handle_timer(self, id):
        request = waiting.pop(id, None)
        if request is not None:
            messaging.send(reply(request, types.Performative.INFORM,
                                 {"result": {"timer": id, "fired_at_ms": timers.now_ms()}}))

"""Helpers shared by Caxton's Python agents (on componentize-py's path via `-p guests/python`)."""
import json

from wit_world import exports
from wit_world.imports import types


def reply(msg, performative, content):
    """An answer to `msg`: to its sender, in its conversation, answering its reply-with."""
    return types.Message(
        performative=performative, sender="", receivers=[msg.sender], content=json.dumps(content),
        language=None, encoding=None, ontology=msg.ontology, protocol=msg.protocol,
        conversation_id=msg.conversation_id, reply_with=None, in_reply_to=msg.reply_with, reply_by=None)


def json_content(msg):
    """The content as JSON, or `None` when it is not JSON."""
    try:
        return json.loads(msg.content)
    except ValueError:
        return None


def action(msg):
    """The `action` of a request's JSON content, or `None`."""
    content = json_content(msg)
    if msg.performative != types.Performative.REQUEST or not isinstance(content, dict):
        return None
    return content.get("action")


class Agent(exports.Guest):
    """Defaults for everything but `handle_message`."""

    def init(self):
        pass

    def handle_timer(self, id):
        pass

    def shutdown(self):
        pass

    def capabilities(self):
        return types.AgentProfile(version="0.1.0", performatives=[types.Performative.REQUEST],
                                  protocols=["fipa-request"], ontologies=[], services=[])

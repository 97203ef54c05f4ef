"""Helpers shared by Caxton's Python agents (on componentize-py's path via `-p guests/python`)."""
import json
import traceback

from componentize_py_types import Err
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


def _reported(method):
    """`method`, with an exception it lets out returned as the export's error: the host then
    answers the message with a `failure` naming it (an exception escaping an export would
    trap the agent, and its traceback would go nowhere: stderr is stubbed)."""
    def call(self, *args):
        try:
            return method(self, *args)
        except Err:
            raise
        except Exception as e:
            # frames only, no source lines: reading app.py would touch the (stubbed) filesystem
            where = traceback.StackSummary.extract(traceback.walk_tb(e.__traceback__), lookup_lines=False)[-1]
            raise Err(f"{type(e).__name__}: {e} (at {where.filename}:{where.lineno} in {where.name})")
    return call


class Agent(exports.Guest):
    """Defaults for everything but `handle_message`; an exception that escapes `init`,
    `handle_message` or `handle_timer` becomes the export's error."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("init", "handle_message", "handle_timer"):
            if name in cls.__dict__:
                setattr(cls, name, _reported(cls.__dict__[name]))

    def init(self):
        pass

    def handle_timer(self, id):
        pass

    def shutdown(self):
        pass

    def capabilities(self):
        return types.AgentProfile(version="0.1.0", performatives=[types.Performative.REQUEST],
                                  protocols=["fipa-request"], ontologies=[], services=[])

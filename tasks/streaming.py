"""A reply streamed to a web visitor while the engine writes it (docs/widget-protocol.md).

The visitor's stream gets ``status: read`` for its message and ``typing: on``, then each text
delta as a ``delta`` of the reply's id, then ``typing: off``. Only the final chunk's whole
response becomes the stored reply; a stream that breaks first (an error, no final chunk, a
final chunk without a response) gets a ``stream_reset`` so the widget drops the partial text,
and fails like a whole ``generate`` call would, so the stage retries or falls back once.
Publishing is best effort: a Redis error is logged and the turn goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from core.errors import DependencyError
from core.visitor_events import event
from protos import mcp_engine_pb2 as pb
from storage.documents import MessageDocument
from storage.messages import reply_id
from storage.visitor_streams import VisitorStreams
from tasks.errors import StreamBroken
from tasks.runtime import WorkerClients

log = logging.getLogger("parley.tasks.streaming")


class VisitorFeed:
    """The stream of the visitor who wrote ``message``; silent when it names no widget."""

    def __init__(self, streams: VisitorStreams, message: MessageDocument) -> None:
        self._streams = streams
        self._tenant_id = message["tenant_id"]
        self._widget_id = str(message.get("reply_to", {}).get("widget_id") or "")
        self._visitor_id = message["user_id"]
        self._message_id = message["_id"]

    def publish(self, kind: str, **fields: Any) -> None:
        if not self._widget_id:
            return
        try:
            self._streams.publish(
                self._tenant_id, self._widget_id, self._visitor_id, event(kind, **fields)
            )
        except RedisError as exc:  # the stored reply still reaches the visitor
            log.warning(
                "%s event for %s not published: %s", kind, self._message_id, type(exc).__name__
            )


def streamed_answer(
    c: WorkerClients, message: MessageDocument, request: pb.GenerateRequest
) -> pb.GenerateResponse:
    """The engine's whole reply, its text streamed to the visitor on the way; raises the engine
    client's errors, or ``StreamBroken``, after telling the visitor to drop what it got."""
    feed = VisitorFeed(c.visitor_streams, message)
    conversation_id, rid = message["conversation_id"], reply_id(message["_id"])
    feed.publish("status", message_id=message["_id"], status="read")
    feed.publish("typing", conversation_id=conversation_id, state="on")
    streamed = False
    try:
        for chunk in c.engine.stream(request, timeout=c.settings.engine_timeout_seconds):
            if chunk.final:
                if not chunk.HasField("response"):
                    raise StreamBroken("the engine's final chunk carried no response")
                return chunk.response
            if chunk.text_delta:
                delta = {"conversation_id": conversation_id, "reply_id": rid}
                feed.publish("delta", **delta, text=chunk.text_delta)
                streamed = True
        raise StreamBroken("the engine's stream ended before its final chunk")
    except DependencyError:
        if streamed:
            feed.publish("stream_reset", conversation_id=conversation_id, reply_id=rid)
        raise
    finally:
        feed.publish("typing", conversation_id=conversation_id, state="off")

"""The engine's in-memory context per (tenant, conversation), merged by UpdateContext."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

from google.protobuf import json_format

from protos import mcp_engine_pb2

ConversationKey = tuple[str, str]


class ContextStore:
    """Thread-safe contexts; past ``max_conversations`` the least recently touched are dropped,
    which a reference engine may do because the pipeline's session is the durable copy."""

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._max_conversations = max_conversations
        self._lock = threading.Lock()
        self._contexts: OrderedDict[ConversationKey, dict[str, Any]] = OrderedDict()

    def get(self, tenant_id: str, conversation_id: str) -> dict[str, Any]:
        """A copy of the stored context; empty for a conversation the engine has not seen."""
        with self._lock:
            return copy.deepcopy(self._contexts.get((tenant_id, conversation_id), {}))

    def merge(
        self, tenant_id: str, conversation_id: str, update: mcp_engine_pb2.ContextUpdate
    ) -> dict[str, Any]:
        """Removes the ``unset`` keys, then writes the ``set`` ones; returns the merged context."""
        changes = json_format.MessageToDict(update.set)
        key = (tenant_id, conversation_id)
        with self._lock:
            context = self._contexts.pop(key, {})
            for name in update.unset:
                context.pop(name, None)
            context.update(changes)
            self._contexts[key] = context
            while len(self._contexts) > self._max_conversations:
                self._contexts.popitem(last=False)
            return copy.deepcopy(context)

"""Reads and conditional writes addressed by ``_id``, with every other condition checked here.

FerretDB v1 (the local stand-in for MongoDB) pushes a filter down to its storage only when the
filter is ``{"_id": <id>}`` and nothing else. Any other filter, ``_id`` plus a tenant or a
status included, is a scan of the collection in insertion order: cheap for an old document
that matches early, about a second at a few thousand documents for a new one, or for one that
does not match (the other tenant's id, a status already moved on, a reply not written yet),
which is the everyday case of idempotent stages re-checking their work.

So the repositories read by ``_id`` alone and test the rest of the filter in Python. A write
goes out only when the document matched. On MongoDB it carries the full filter, so a change
made between the read and the write (another worker moving the same document) still makes it a
no-op. On FerretDB it carries ``_id`` alone: FerretDB v1 evaluates an update's filter and then
replaces the document as two steps anyway, so the full filter would buy a scan and no
atomicity. Where exclusivity matters, Parley uses unique-index inserts or Redis leases, which
both servers make atomic.

``matches`` understands the operators Parley's repositories use in these filters: equality,
``$in``, ``$exists``, ``$lt``, ``$lte``, ``$gt`` and ``$gte``, on dotted paths.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, TypeVar

from pymongo import ReturnDocument
from pymongo.collection import Collection

# The collection's document type (storage/documents.py), or Any for an untyped one.
D = TypeVar("D", bound=Mapping[str, Any])

_MISSING = object()

_id_only_lock = threading.Lock()
_id_only_servers: dict[int, bool] = {}  # id(MongoClient) -> the server pushes down only _id


def _id_only(collection: Collection[Any]) -> bool:
    """Whether this client's server is FerretDB (see the module's docstring); asked once."""
    client = collection.database.client
    with _id_only_lock:
        known = _id_only_servers.get(id(client))
    if known is None:
        known = "ferretdbVersion" in client.admin.command("buildInfo")
        with _id_only_lock:
            _id_only_servers[id(client)] = known
    return known


def write_filter(collection: Collection[Any], doc_id: Any, conditions: Mapping[str, Any]) -> Any:
    """The filter a write by ``_id`` sends, its ``conditions`` already checked in Python."""
    return {"_id": doc_id} if _id_only(collection) else {"_id": doc_id, **conditions}


def _value(doc: Mapping[str, Any], path: str) -> Any:
    current: Any = doc
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _equal(value: Any, expected: Any) -> bool:
    if value is _MISSING:
        return expected is None  # MongoDB: {field: null} matches a missing field
    if isinstance(value, list) and not isinstance(expected, list):
        return expected in value  # MongoDB: equality with an array matches any element
    return bool(value == expected)


def _compare(value: Any, op: str, operand: Any) -> bool:
    if value is _MISSING or value is None:
        return False
    try:
        if op == "$lt":
            return bool(value < operand)
        if op == "$lte":
            return bool(value <= operand)
        if op == "$gt":
            return bool(value > operand)
        return bool(value >= operand)
    except TypeError:  # MongoDB compares only within a type bracket
        return False


def _holds(value: Any, condition: Any) -> bool:
    if not (isinstance(condition, Mapping) and condition and next(iter(condition)).startswith("$")):
        return _equal(value, condition)
    for op, operand in condition.items():
        if op == "$in":
            if not any(_equal(value, option) for option in operand):
                return False
        elif op == "$exists":
            if (value is not _MISSING) != bool(operand):
                return False
        elif op in ("$lt", "$lte", "$gt", "$gte"):
            if not _compare(value, op, operand):
                return False
        else:
            raise ValueError(f"by_id does not evaluate {op}")
    return True


def matches(doc: Mapping[str, Any], conditions: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies ``conditions`` (a filter without ``_id``) as MongoDB would."""
    return all(_holds(_value(doc, path), condition) for path, condition in conditions.items())


def find_by_id(
    collection: Collection[D],
    doc_id: Any,
    conditions: Mapping[str, Any],
    projection: Mapping[str, Any] | None = None,
) -> D | None:
    """The document ``doc_id`` if it satisfies ``conditions``, else None; one ``_id`` read."""
    if projection is not None:
        # The conditions are checked on the returned document, so they must be in it.
        projection = {**projection, **{path.split(".")[0]: 1 for path in conditions}}
    doc = collection.find_one({"_id": doc_id}, projection)
    if doc is None or not matches(doc, conditions):
        return None
    return doc


def update_by_id(
    collection: Collection[Any],
    doc_id: Any,
    conditions: Mapping[str, Any],
    update: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
) -> bool:
    """Apply ``update`` to ``doc_id`` if it satisfies ``conditions``; True if it changed.

    The read decides cheaply whether to write; the write carries the full filter, so a change
    made between the two (another worker moving the same document) still makes it a no-op.
    A caller holding a fresh copy of the document passes it as ``current`` to save the read.
    """
    if current is not None and current.get("_id") == doc_id:
        if not matches(current, conditions):
            return False
    elif find_by_id(collection, doc_id, conditions, {"_id": 1}) is None:
        return False
    result = collection.update_one(write_filter(collection, doc_id, conditions), update)
    return result.modified_count == 1


def find_one_and_update_by_id(
    collection: Collection[D],
    doc_id: Any,
    conditions: Mapping[str, Any],
    update: Mapping[str, Any],
) -> D | None:
    """``update_by_id`` returning the document after the update (None if it did not match)."""
    if find_by_id(collection, doc_id, conditions, {"_id": 1}) is None:
        return None
    return collection.find_one_and_update(
        write_filter(collection, doc_id, conditions),
        update,
        return_document=ReturnDocument.AFTER,
    )


def delete_by_id(collection: Collection[Any], doc_id: Any, conditions: Mapping[str, Any]) -> bool:
    """Delete ``doc_id`` if it satisfies ``conditions``; True if it was deleted."""
    if find_by_id(collection, doc_id, conditions, {"_id": 1}) is None:
        return False
    return collection.delete_one(write_filter(collection, doc_id, conditions)).deleted_count == 1

"""Spans of a message's text found by a processor, and how overlapping ones are resolved."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def without_overlaps(found: Iterable[T], bounds: Callable[[T], tuple[int, int]]) -> list[T]:
    """Keep the longest of overlapping spans (the earlier found on a tie), sorted by start."""
    kept: list[T] = []
    taken: list[tuple[int, int]] = []
    for item in sorted(found, key=lambda i: bounds(i)[0] - bounds(i)[1]):  # stable: ties keep order
        start, end = bounds(item)
        if all(end <= other_start or start >= other_end for other_start, other_end in taken):
            kept.append(item)
            taken.append((start, end))
    return sorted(kept, key=bounds)

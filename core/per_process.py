"""One object per process, made on first use and made again after a fork, never at import:
what holds sockets or threads (clients, a thread pool) and must not be shared with a parent."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._value: T | None = None
        self._owner_pid = 0

    def get(self) -> T:
        """This process's object; a new one if the process was forked since it was made."""
        with self._lock:
            if self._value is None or self._owner_pid != os.getpid():
                self._value = self._make()
                self._owner_pid = os.getpid()
            return self._value

    def discard(self) -> T | None:
        """Forget this process's object and hand it back to be closed (None if it made none:
        a parent's is the parent's to close)."""
        with self._lock:
            value, mine = self._value, self._owner_pid == os.getpid()
            self._value = None
            return value if mine else None

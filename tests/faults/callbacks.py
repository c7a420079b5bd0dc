"""Messenger's status webhooks, posted the moment a reply's first part reaches the fake.

As Messenger does, the first part of every reply gets a signed ``delivery`` webhook (its ``mid``
and a watermark) and a ``read`` watermark. They are posted from a pool of their own while the
deliver stage is still sending the reply's remaining parts (the fake tells of a send before it
answers it), so they race those parts as a real provider's callbacks can. So that the race is
run however fast the ingress answers, the fake holds its answer to a reply's later parts until
the first part's delivery webhook was answered (``HOLD_SECONDS`` at most, well inside the send
timeout). A reply whose callback was answered before its last part reached the fake was raced
for certain: the ingress applied it while the reply was still being sent. A callback not
answered 200 is posted again, as Meta would.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, Self

import httpx

from tests.fakes import messenger as fb
from tests.faults.ledger import ProviderSend
from tests.faults.load import post_webhook

THREADS = 8
CLOSE_SECONDS = 120.0  # how long the scenario waits for callbacks still on their way
# The longest the fake holds a reply's later parts for its first part's callback: under the
# faults' 5 s send timeout, so the hold never turns into a timed-out (and re-sent) part.
HOLD_SECONDS = 2.5


class StatusCallbacks:
    """Use as ``with StatusCallbacks(...) as callbacks: provider.on_accept = callbacks.on_send``."""

    def __init__(self, url: str, page_id: str, app_secret: str) -> None:
        self.url = url
        self.page_id = page_id
        self.app_secret = app_secret
        self.posted: Counter[str] = Counter()  # "delivery" / "read" -> webhooks answered 200
        self.refused: list[str] = []  # the last answer of each webhook never answered 200
        self.confirmed: set[str] = set()  # reply ids a delivery webhook was accepted for
        self.latencies: list[float] = []  # seconds from a part's send to its callback's 200
        self.answer_seconds: list[float] = []  # seconds the ingress took (retries included)
        self.retried = 0  # callbacks that needed more than one attempt
        self._answered: dict[str, float] = {}  # reply id -> when its delivery got 200
        self._last_part: dict[str, float] = {}  # reply id -> when its latest part was sent
        self._parts: Counter[str] = Counter()  # reply id -> parts accepted so far
        self._delivered: dict[str, tuple[threading.Event, float]] = {}  # (answered, hold until)
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="callbacks")
        self._client = httpx.Client(timeout=10.0, limits=httpx.Limits(max_connections=THREADS))

    def on_send(self, send: ProviderSend, recipient: str, mid: str) -> None:
        """The fake accepted a part: for a first part, its delivery and read go out now; a
        later part is answered once the first part's delivery was (or its hold ran out)."""
        now, now_ms = time.monotonic(), int(time.time() * 1000)
        with self._lock:
            self._parts[send.reply_id] += 1
            self._last_part[send.reply_id] = now
            if self._stop.is_set():
                return
            if self._parts[send.reply_id] > 1:
                answered, hold_until = self._delivered.get(send.reply_id, (None, now))
            else:
                answered, hold_until = None, now
                self._delivered[send.reply_id] = (threading.Event(), now + HOLD_SECONDS)
                self._submit(send.reply_id, recipient, mid, now, now_ms)
        if answered is not None:
            answered.wait(max(0.0, hold_until - now))

    def _submit(self, reply_id: str, recipient: str, mid: str, now: float, now_ms: int) -> None:
        for kind, payload in (
            ("delivery", fb.delivery(self.page_id, recipient, now_ms, [mid])),
            ("read", fb.read(self.page_id, recipient, now_ms)),
        ):
            self._futures.append(self._pool.submit(self._post, kind, reply_id, payload, now))

    @property
    def raced(self) -> int:
        """Replies whose callback the ingress had applied before their last part was sent."""
        with self._lock:
            return sum(
                1 for reply_id, at in self._answered.items() if at < self._last_part[reply_id]
            )

    def _post(self, kind: str, reply_id: str, payload: dict[str, Any], sent_at: float) -> None:
        signed = fb.signed_webhook(payload, self.app_secret)
        posted_at = time.monotonic()
        ok, answer, attempts = post_webhook(self._client, self.url, signed, self._stop)
        now = time.monotonic()
        with self._lock:
            self.answer_seconds.append(now - posted_at)
            self.retried += attempts > 1
            if not ok:
                self.refused.append(f"{kind} for {reply_id}: {answer}")
                return
            self.posted[kind] += 1
            self.latencies.append(now - sent_at)
            if kind == "delivery":  # the one that names a part; a read watermark names none
                self._answered.setdefault(reply_id, now)
                self.confirmed.add(reply_id)
                self._delivered[reply_id][0].set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            futures = list(self._futures)
        wait(futures, timeout=0 if exc_type else CLOSE_SECONDS)
        self._stop.set()  # no more sends are told of, and retries end
        with self._lock:
            for answered, _ in self._delivered.values():
                answered.set()  # no part is held any longer
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()
        never_posted = sum(1 for future in futures if future.cancelled())
        with self._lock:
            self.refused.extend(
                f"not posted within {CLOSE_SECONDS:.0f} s" for _ in range(never_posted)
            )

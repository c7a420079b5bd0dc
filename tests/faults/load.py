"""The load: N signed Messenger webhooks over C conversations, paced, each conversation in order.

Turn ``k`` (round-robin: every conversation's first message, then every second one, ...) is due
at ``k / rate`` seconds. A bounded pool of threads each owns a fixed share of the conversations,
so one conversation's messages go out one after the other while conversations interleave.
Like Meta, the sender retries a webhook that was not answered 200 (same ``mid``), for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.fakes import messenger as fb

THREADS = 8
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)  # ~30 s: a provider's first few retries


@dataclass(frozen=True)
class Turn:
    """One user message: conversation ``conversation``, its ``seq``-th message."""

    conversation: int
    seq: int

    @property
    def label(self) -> str:
        return f"c{self.conversation}-m{self.seq}"


@dataclass(frozen=True)
class LoadPlan:
    run: str  # makes message ids unique across scenarios
    page_id: str
    app_secret: str
    messages: int
    conversations: int
    rate: float

    def turns(self) -> list[Turn]:
        """Every turn in send order (round-robin over the conversations)."""
        return [Turn(k % self.conversations, k // self.conversations) for k in range(self.messages)]

    def user(self, conversation: int) -> str:
        return f"7{self.run}{conversation:05d}"

    def mid(self, turn: Turn) -> str:
        return f"m_FAULTS{self.run}-{turn.label}"

    def webhook(self, turn: Turn) -> tuple[bytes, dict[str, str]]:
        payload = fb.inbound_text(
            self.page_id, self.user(turn.conversation), turn.label, mid=self.mid(turn)
        )
        return fb.signed_webhook(payload, self.app_secret)


@dataclass
class LoadResult:
    accepted: dict[str, float] = field(default_factory=dict)  # label -> time answered 200
    refused: dict[str, str] = field(default_factory=dict)  # label -> last answer
    retried: int = 0  # webhooks that needed more than one attempt
    started: float = 0.0
    finished: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, turn: Turn, ok: bool, answer: str, attempts: int) -> None:
        with self._lock:
            if ok:
                self.accepted[turn.label] = time.monotonic()
            else:
                self.refused[turn.label] = answer
            if attempts > 1:
                self.retried += 1


def send_load(url: str, plan: LoadPlan, stop: threading.Event) -> LoadResult:
    """Send the whole plan; returns when every webhook was answered or given up on."""
    result = LoadResult(started=time.monotonic())
    turns = plan.turns()
    shares = [
        [(k, t) for k, t in enumerate(turns) if t.conversation % THREADS == i]
        for i in range(THREADS)
    ]
    with ThreadPoolExecutor(THREADS, thread_name_prefix="load") as pool:
        futures = [pool.submit(_send_share, url, plan, share, result, stop) for share in shares]
        for future in futures:
            future.result()
    result.finished = time.monotonic()
    return result


def _send_share(
    url: str,
    plan: LoadPlan,
    share: list[tuple[int, Turn]],
    result: LoadResult,
    stop: threading.Event,
) -> None:
    with httpx.Client(timeout=10.0) as client:
        for k, turn in share:
            due = result.started + k / plan.rate
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            ok, answer, attempts = post_webhook(client, url, plan.webhook(turn), stop)
            result.record(turn, ok, answer, attempts)


def post_webhook(
    client: httpx.Client, url: str, signed: tuple[bytes, dict[str, str]], stop: threading.Event
) -> tuple[bool, str, int]:
    """POST one signed webhook, again after each failure as Meta would: (answered 200, the last
    answer, attempts)."""
    raw, headers = signed
    answer = ""
    for attempt, delay in enumerate(_with_final(RETRY_DELAYS), start=1):
        try:
            response = client.post(url, content=raw, headers=headers)
            if response.status_code == 200:
                return True, "200", attempt
            answer = f"{response.status_code} {response.text[:120]}"
        except httpx.HTTPError as exc:
            answer = type(exc).__name__
        if delay is None or stop.wait(delay):
            return False, answer, attempt
    return False, answer, len(RETRY_DELAYS) + 1


def _with_final(delays: tuple[float, ...]) -> Iterator[float | None]:
    """Each delay after a failed attempt, then None: the last attempt is not followed by a wait."""
    yield from delays
    yield None

"""The ledger of one scenario: what was accepted, sent, dead-lettered and published, counted.

Pure counting over what three witnesses saw (see ``witnesses``): the provider fake's accepted
sends, MongoDB's inbound statuses, replies and dead letters, and the event ids read back from
Kafka. None of them is the platform's own word for what it did. (The task executions per turn
are Celery's own counters: a cost, not a fact about the turns.)
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

TERMINAL = frozenset({"completed", "failed", "dead_lettered"})


@dataclass(frozen=True)
class ProviderSend:
    """One send the provider accepted (answered 200 with a message id)."""

    seq: int  # the order the provider accepted it in
    reply_id: str  # the Send API ``metadata``
    body: str  # the ``message`` object without metadata, as canonical JSON


@dataclass(frozen=True)
class Inbound:
    message_id: str
    label: str
    status: str
    reply_id: str = ""  # the reply that answered it, if one did: its own, or a burst's

    @property
    def answered_by(self) -> str:
        """The reply whose sends count for this message: a burst's first message's reply for
        each message answered with it (docs/bursts.md), else its own."""
        return self.reply_id or f"{self.message_id}.r"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    stage: str
    reason: str


@dataclass(frozen=True)
class StoredReply:
    message_id: str
    parts: int  # reply parts the engine answered (an empty list is sent as one text)
    status: str
    answers: tuple[str, ...] = ()  # the inbound messages it answered (more than one: a burst)


@dataclass(frozen=True)
class Store:
    """What MongoDB says about the scenario's tenant."""

    inbound: list[Inbound]
    dead_letters: list[DeadLetter]
    replies: list[StoredReply] = field(default_factory=list)


@dataclass
class Ledger:
    accepted: int
    refused: int
    delivered: int
    duplicates: int
    lost: int
    out_of_order: int
    dead_lettered: int
    reasons: dict[str, int]
    missing_events: int
    duplicated_events: int
    drain_seconds: float
    drain: str  # "drained", "stalled" (no progress for a while) or "cap" (still moving)
    not_terminal: int
    failed: int
    incomplete: int = 0  # completed turns of which some reply part never reached the provider
    answered_twice: int = 0  # messages more than one stored reply answers
    together: int = 0  # messages answered by the reply of an earlier one (bursts)
    statuses: dict[str, int] = field(default_factory=dict)  # of turns not delivered
    samples: dict[str, list[str]] = field(default_factory=dict)  # a few ids behind each count
    crashed: dict[str, int] = field(default_factory=dict)  # processes that exited on their own
    executions: int | None = None  # chain tasks the workers ran during the scenario, if counted
    extras: dict[str, object] = field(default_factory=dict)  # a scenario's own counts

    @property
    def executions_per_turn(self) -> float | None:
        if self.executions is None or not self.accepted:
            return None
        return self.executions / self.accepted

    def line(self, name: str) -> str:
        reasons = json.dumps(dict(sorted(self.reasons.items())), separators=(",", ":"))
        drain = f"{self.drain_seconds:.1f}s"
        if self.drain != "drained":
            drain = f">{self.drain_seconds:.0f}s({self.drain})"
        undelivered = json.dumps(dict(sorted(self.statuses.items())), separators=(",", ":"))
        crashed = json.dumps(dict(sorted(self.crashed.items())), separators=(",", ":"))
        per_turn = self.executions_per_turn
        executions = "?" if per_turn is None else f"{per_turn:.2f}"
        extras = "".join(f" {key}={value}" for key, value in self.extras.items())
        return (
            f"ledger {name}: accepted={self.accepted} delivered={self.delivered} "
            f"duplicates={self.duplicates} lost={self.lost} out_of_order={self.out_of_order} "
            f"dead_lettered={self.dead_lettered} {reasons} "
            f"missing_events={self.missing_events} duplicated_events={self.duplicated_events} "
            f"drain={drain} refused={self.refused} not_terminal={self.not_terminal} "
            f"failed={self.failed} incomplete={self.incomplete} "
            f"answered_twice={self.answered_twice} together={self.together} "
            f"undelivered_by_status={undelivered} crashed={crashed} "
            f"executions_per_turn={executions}{extras}"
        )


@dataclass(frozen=True)
class TurnView:
    """Per accepted turn: its inbound message(s), the sends the provider accepted, its fate."""

    inbound: dict[str, list[Inbound]]  # label -> inbound messages (more than one: a dedupe miss)
    sends: dict[str, list[ProviderSend]]  # label -> accepted sends of its reply (or replies)


def view_turns(store: Store, sends: Iterable[ProviderSend]) -> TurnView:
    """A message answered with others (a burst) has its answering reply's sends."""
    inbound: dict[str, list[Inbound]] = defaultdict(list)
    labels_of: dict[str, list[str]] = defaultdict(list)  # reply id -> labels it answered
    for message in store.inbound:
        inbound[message.label].append(message)
        labels_of[message.answered_by].append(message.label)
    by_label: dict[str, list[ProviderSend]] = defaultdict(list)
    for send in sends:
        for label in dict.fromkeys(labels_of.get(send.reply_id, [])):
            by_label[label].append(send)
    return TurnView(dict(inbound), dict(by_label))


def answered_twice(store: Store) -> list[str]:
    """Inbound messages more than one stored reply answers: named in two replies' ``answers``,
    or having a reply of their own besides the burst's reply they point at."""
    answering: dict[str, set[str]] = defaultdict(set)
    for reply in store.replies:
        for message_id in reply.answers or (reply.message_id.removesuffix(".r"),):
            answering[message_id].add(reply.message_id)
    own = {reply.message_id for reply in store.replies}
    for message in store.inbound:
        if message.reply_id and f"{message.message_id}.r" in own:
            answering[message.message_id].add(f"{message.message_id}.r")
        if message.reply_id:
            answering[message.message_id].add(message.reply_id)
    return sorted(message_id for message_id, replies in answering.items() if len(replies) > 1)


def expected_events(view: TurnView, accepted: Iterable[str]) -> set[str]:
    """``<inbound>:received`` and ``<reply>:sent`` for every accepted turn that completed or
    whose reply reached the provider: both facts happened, so both must be on Kafka. (A burst's
    later message expects the reply that answered them all, once the provider has it: its own
    turn completes whatever became of that reply.)"""
    ids: set[str] = set()
    for label in accepted:
        delivered = bool(view.sends.get(label))
        for message in view.inbound.get(label, []):
            if message.status == "completed" or delivered:
                ids.add(f"{message.message_id}:received")
                if delivered or message.answered_by == f"{message.message_id}.r":
                    ids.add(f"{message.answered_by}:sent")
    return ids


def count_inversions(values: list[int]) -> int:
    """Pairs (i < j) with ``values[i] > values[j]``: for turn numbers in the order their replies
    went out, the pairs that came in the opposite order to the user's messages."""
    return sum(1 for i, j in itertools.combinations(range(len(values)), 2) if values[i] > values[j])


def turns_in_send_order(sends: dict[int, list[ProviderSend]]) -> list[int]:
    """A conversation's turn numbers in the order the provider accepted their reply parts, each
    distinct part once (its first send): a later turn's part before an earlier turn's is out of
    order, even when the earlier turn's first part led. ``sends`` maps turn number to sends;
    turns answered by one reply (a burst) share its sends and count in their own order."""
    first: dict[tuple[int, str], int] = {}
    for seq, turn_sends in sends.items():
        for send in turn_sends:
            key = (seq, send.body)
            first[key] = min(first.get(key, send.seq), send.seq)
    return [seq for (seq, _), _ in sorted(first.items(), key=_send_then_turn)]


def incomplete_turns(
    view: TurnView, replies: Iterable[StoredReply], accepted: Iterable[str]
) -> list[str]:
    """Completed turns whose reply has fewer distinct parts at the provider than it was given
    (a channel may send one part as several messages, never as fewer). A reply that answers a
    burst is judged once, with the message whose turn sent it."""
    parts = {reply.message_id: reply.parts for reply in replies}
    incomplete = []
    for label in accepted:
        for message in view.inbound.get(label, []):
            wanted = parts.get(f"{message.message_id}.r")
            if message.status != "completed" or wanted is None:
                continue
            bodies = {send.body for send in view.sends.get(label, [])}
            if len(bodies) < max(1, wanted):
                incomplete.append(label)
    return sorted(incomplete)


def _send_then_turn(pair: tuple[tuple[int, str], int]) -> tuple[int, int]:
    (seq, _), first_send = pair
    return first_send, seq


def seq_of(label: str) -> tuple[int, int]:
    conversation, seq = label.removeprefix("c").split("-m")
    return int(conversation), int(seq)


def tally(
    accepted: Iterable[str],
    refused: int,
    store: Store,
    sends: Iterable[ProviderSend],
    events: Counter[str],
    drain: str,
    drain_seconds: float,
) -> Ledger:
    accepted = set(accepted)
    view = view_turns(store, sends)
    delivered = {label for label in accepted if view.sends.get(label)}
    own = {  # a burst's reply resent counts once: for the message whose turn sent it
        label
        for label in accepted
        if all(m.answered_by == f"{m.message_id}.r" for m in view.inbound.get(label, []))
    }
    resent = sorted(
        label
        for label in own
        if any(n > 1 for n in Counter(send.body for send in view.sends.get(label, [])).values())
    )
    ids_of = {m.message_id: label for label, ms in view.inbound.items() for m in ms}
    dead_turns = {
        label
        for label in accepted
        for m in view.inbound.get(label, [])
        if m.status == "dead_lettered"
    }
    reasons: Counter[str] = Counter()
    for letter in store.dead_letters:
        label = ids_of.get(letter.message_id.removesuffix(".r"))
        if label in accepted:
            dead_turns.add(label)
            reasons[letter.reason] += 1
    for label in dead_turns:
        if not any(
            ids_of.get(d.message_id.removesuffix(".r")) == label for d in store.dead_letters
        ):
            reasons["no dead_letters record"] += 1
    # A message answered with a dead turn's message shares its fate (and its dead letter).
    dead_ids = {m.message_id for label in dead_turns for m in view.inbound.get(label, [])}
    dead_turns |= {
        label
        for label in accepted
        if any(m.answered_by.removesuffix(".r") in dead_ids for m in view.inbound.get(label, []))
    }
    lost = accepted - delivered - dead_turns
    statuses = [m.status for label in accepted for m in view.inbound.get(label, [])]
    not_terminal = sum(
        1
        for label in accepted
        if not view.inbound.get(label) or any(m.status not in TERMINAL for m in view.inbound[label])
    )
    conversation_sends: dict[int, dict[int, list[ProviderSend]]] = defaultdict(dict)
    for label in delivered:
        conversation, seq = seq_of(label)
        conversation_sends[conversation][seq] = view.sends[label]
    send_order = {c: turns_in_send_order(turns) for c, turns in conversation_sends.items()}
    inversions = {c: count_inversions(order) for c, order in send_order.items()}
    incomplete = incomplete_turns(view, store.replies, accepted)
    twice = answered_twice(store)
    together = [m for m in store.inbound if m.reply_id and m.answered_by != f"{m.message_id}.r"]
    expected = expected_events(view, accepted)
    samples = {
        "lost": sorted(lost),
        "resent": resent,
        "dead_lettered": sorted(dead_turns),
        "out_of_order": [
            f"c{c} replies went out for "
            + " ".join(
                f"m{seq}={view.inbound[f'c{c}-m{seq}'][0].message_id}"
                for seq, _ in itertools.groupby(order)
            )
            for c, order in sorted(send_order.items())
            if inversions[c]
        ],
        "missing_events": sorted(expected - set(events)),
        "duplicated_events": sorted(i for i, n in events.items() if n > 1),
        "incomplete": incomplete,
        "answered_twice": twice,
    }
    undelivered: Counter[str] = Counter(
        (view.inbound[label][0].status if view.inbound.get(label) else "missing")
        for label in accepted - delivered
    )
    return Ledger(
        accepted=len(accepted),
        refused=refused,
        delivered=len(delivered),
        duplicates=len(resent),
        lost=len(lost),
        out_of_order=sum(inversions.values()),
        dead_lettered=len(dead_turns),
        reasons=dict(reasons),
        missing_events=len(expected - set(events)),
        duplicated_events=sum(1 for n in events.values() if n > 1),
        drain_seconds=drain_seconds,
        drain=drain,
        not_terminal=not_terminal,
        failed=statuses.count("failed"),
        incomplete=len(incomplete),
        answered_twice=len(twice),
        together=len(together),
        statuses=dict(undelivered),
        samples={name: ids[:5] for name, ids in samples.items() if ids},
    )

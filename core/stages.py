"""The turn's stages, each defined here once: the chain, queues, routes, dead letters, the
reconciler and the turn order all derive their lists from this table.

A stage runs when the turn's inbound message holds ``before`` and leaves it at ``after``, the
next stage's ``before``. Its Celery queue bears its name and its task is ``parley.<name>``. An
ordered stage lets a turn through only after every earlier turn of its conversation passed it
(tasks/ordering.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.states import Status


@dataclass(frozen=True)
class Stage:
    name: str
    before: Status  # the inbound message's status when the stage is due
    after: Status  # its status once the stage has passed
    ordered: bool  # replies go out in the order the user wrote

    @property
    def queue(self) -> str:
        return self.name

    @property
    def task(self) -> str:
        return f"parley.{self.name}"


PROCESS = Stage("process", Status.ACCEPTED, Status.PROCESSED, ordered=False)
GENERATE = Stage("generate", Status.PROCESSED, Status.GENERATED, ordered=True)
DELIVER = Stage("deliver", Status.GENERATED, Status.DELIVERED, ordered=True)
AUDIT = Stage("audit", Status.DELIVERED, Status.COMPLETED, ordered=False)

# In the order a turn goes through them.
CHAIN: tuple[Stage, ...] = (PROCESS, GENERATE, DELIVER, AUDIT)
NAMES: tuple[str, ...] = tuple(stage.name for stage in CHAIN)
ORDERED: tuple[str, ...] = tuple(stage.name for stage in CHAIN if stage.ordered)
_BY_NAME = {stage.name: stage for stage in CHAIN}


def stage_named(name: str) -> Stage:
    if name not in _BY_NAME:
        raise ValueError(f"unknown stage {name!r}")
    return _BY_NAME[name]


def stages_from(name: str) -> tuple[Stage, ...]:
    """The stages a turn still goes through when it is (re)started at ``name``."""
    return CHAIN[CHAIN.index(stage_named(name)) :]


def due_at(status: str) -> Stage | None:
    """The stage a turn whose inbound message holds ``status`` waits for, if any."""
    return next((stage for stage in CHAIN if stage.before == status), None)


def unfinished(name: str) -> frozenset[Status]:
    """The statuses of the inbound message that mean the turn has not passed ``name`` yet."""
    return frozenset(stage.before for stage in CHAIN[: CHAIN.index(stage_named(name)) + 1])

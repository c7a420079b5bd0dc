"""Every list of stages is derived from the one table in core/stages.py and agrees with it."""

from __future__ import annotations

from itertools import pairwise

import pytest

import celeryconfig
from core.stages import AUDIT, CHAIN, DELIVER, GENERATE, NAMES, ORDERED, PROCESS, stage_named
from core.states import Status, predecessors
from storage import dead_letters
from tasks.app import app
from tasks.chain import chain_from, turn_chain
from tasks.maintenance import STAGE_FOR
from tasks.ordering import UNFINISHED
from tasks.queues import QUEUES


def _task_names(signature: object) -> list[str]:
    return [task.task for task in signature.tasks]  # type: ignore[attr-defined]


def test_the_turn_chain_runs_every_stage_in_the_table_order() -> None:
    assert _task_names(turn_chain("t", "m")) == [stage.task for stage in CHAIN]
    assert NAMES == ("process", "generate", "deliver", "audit")
    assert _task_names(chain_from("deliver", "t", "m")) == ["parley.deliver", "parley.audit"]


def test_each_stage_leaves_the_message_where_the_next_one_finds_it() -> None:
    for stage, following in pairwise(CHAIN):
        assert stage.after == following.before
    assert PROCESS.before is Status.ACCEPTED and AUDIT.after is Status.COMPLETED
    for stage in CHAIN:
        assert stage.before in predecessors(stage.after)  # the state machine moves forward


def test_every_stage_has_a_queue_and_a_route_to_it() -> None:
    for stage in CHAIN:
        assert stage.queue in QUEUES
        assert celeryconfig.task_routes[stage.task]["queue"] == stage.queue
        app.loader.import_default_modules()
        assert stage.task in app.tasks
        assert getattr(app.tasks[stage.task], "stage", None) == stage.name


def test_dead_letters_may_name_every_stage_and_only_those() -> None:
    assert dead_letters.STAGES == NAMES


def test_replies_keep_their_order_through_generate_and_deliver() -> None:
    assert (GENERATE.name, DELIVER.name) == ORDERED
    assert {
        "generate": {Status.ACCEPTED, Status.PROCESSED},
        "deliver": {Status.ACCEPTED, Status.PROCESSED, Status.GENERATED},
    } == UNFINISHED


def test_the_reconciler_redrives_a_stuck_turn_from_the_stage_it_waits_for() -> None:
    assert {stage.before: stage.name for stage in CHAIN} == STAGE_FOR
    assert [stage_named(STAGE_FOR[stage.before]) for stage in CHAIN] == list(CHAIN)


def test_an_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="dispatch"):
        stage_named("dispatch")
    with pytest.raises(ValueError, match="dispatch"):
        chain_from("dispatch", "t", "m")

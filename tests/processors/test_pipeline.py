"""The pipeline runs a kind's processors in stage order and records each outcome; a failure or a
timeout costs only that processor's result, and only validation, safety and media may refuse
(no services needed: test processors in a registry of their own)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from processors import registry
from processors.base import Kind, ProcessorError, Refused, Stage, Work
from processors.pipeline import run_pipeline

Behaviour = Callable[[Work], None]


@dataclass
class Probe:
    name: str
    stage: Stage
    behaviour: Behaviour = field(default=lambda work: None)
    kinds: frozenset[Kind] = frozenset({Kind.TEXT})
    timeout_ms: int | None = None

    def run(self, work: Work) -> None:
        self.behaviour(work)
        work.results.setdefault(self.name, {"saw": work.text})


@pytest.fixture
def register() -> Iterator[Callable[..., Probe]]:
    """A registry of the test's own processors, the real one put back afterwards."""
    saved = dict(registry._PROCESSORS)
    registry._PROCESSORS.clear()

    def add(name: str, stage: Stage, behaviour: Behaviour = lambda work: None, **kw: Any) -> Probe:
        return registry.register_processor(Probe(name, stage, behaviour, **kw))  # type: ignore[return-value]

    yield add
    registry._PROCESSORS.clear()
    registry._PROCESSORS.update(saved)


def work(text: str = "hello", config: dict[str, Any] | None = None) -> Work:
    return Work(
        tenant_id="acme",
        message_id="m-1",
        channel="api",
        kind=Kind.TEXT,
        text=text,
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
        config=config or {},
    )


def outcomes(processing: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["processor"], s["outcome"]) for s in processing["stages"]]


def upper(w: Work) -> None:
    w.text = w.text.upper()


def test_processors_run_in_stage_order_each_seeing_what_the_earlier_ones_left(
    register: Callable[..., Probe],
) -> None:
    register("tone", Stage.ANALYSIS)
    register("shout", Stage.NORMALISATION, upper)
    register("check", Stage.VALIDATION)
    register("pictures", Stage.PROCESSING, kinds=frozenset({Kind.MEDIA}))

    processing = run_pipeline(work("hello"))

    assert outcomes(processing) == [("check", "ok"), ("shout", "ok"), ("tone", "ok")]
    assert [s["stage"] for s in processing["stages"]] == ["validation", "normalisation", "analysis"]
    assert processing["tone"] == {"saw": "HELLO"} and processing["check"] == {"saw": "hello"}
    assert processing["normalized_text"] == processing["engine_text"] == "HELLO"
    assert (processing["kind"], processing["message_type"], processing["length"]) == (
        "text",
        "text",
        5,
    )
    assert "refused" not in processing
    assert all(
        isinstance(s["duration_ms"], float) and s["duration_ms"] >= 0 for s in processing["stages"]
    )


def test_a_processor_the_tenant_disabled_is_recorded_and_not_run(
    register: Callable[..., Probe],
) -> None:
    register("shout", Stage.NORMALISATION, upper)
    register("tone", Stage.ANALYSIS)

    processing = run_pipeline(work(config={"processors": {"shout": {"enabled": False}}}))

    assert outcomes(processing) == [("shout", "disabled"), ("tone", "ok")]
    assert "shout" not in processing and processing["normalized_text"] == "hello"


def test_a_failing_processor_costs_only_its_own_result_and_never_its_half_done_work(
    register: Callable[..., Probe],
) -> None:
    def half_done(w: Work) -> None:
        w.text = "mangled card 4111 1111 1111 1111"
        w.results["broken"] = {"partial": True}
        raise ProcessorError("the model would not load")

    register("broken", Stage.NORMALISATION, half_done)
    register("crashing", Stage.ENRICHMENT, lambda w: 1 / 0)  # type: ignore[func-returns-value]
    register("tone", Stage.ANALYSIS)

    processing = run_pipeline(work("hello"))

    assert outcomes(processing) == [("broken", "failed"), ("crashing", "failed"), ("tone", "ok")]
    broken, crashing, _ = processing["stages"]
    assert broken["error"] == "ProcessorError: the model would not load"
    assert crashing["error"] == "ZeroDivisionError: division by zero"
    assert "broken" not in processing and "crashing" not in processing
    assert processing["normalized_text"] == "hello" and processing["tone"] == {"saw": "hello"}


def test_a_processor_out_of_time_is_recorded_and_the_turn_goes_on(
    register: Callable[..., Probe],
) -> None:
    release = threading.Event()

    def slow(w: Work) -> None:
        release.wait(5)
        upper(w)  # too late: the pipeline moved on without it

    def patient(w: Work) -> None:
        release.wait(0.2)

    register("slow", Stage.PROCESSING, slow)
    register("patient", Stage.ENRICHMENT, patient, timeout_ms=5000)
    register("tone", Stage.ANALYSIS)
    try:
        processing = run_pipeline(work("hello", config={"timeout_ms": 50}))
    finally:
        release.set()

    assert outcomes(processing) == [("slow", "timeout"), ("patient", "ok"), ("tone", "ok")]
    assert "error" not in processing["stages"][0] and "slow" not in processing
    assert processing["normalized_text"] == "hello"


def test_a_refusal_from_validation_stops_the_pipeline_with_its_reply(
    register: Callable[..., Probe],
) -> None:
    def refuse(w: Work) -> None:
        raise Refused("invalid", "Could you write that again?")

    register("validation", Stage.VALIDATION, refuse)
    register("tone", Stage.ANALYSIS)

    processing = run_pipeline(work())

    assert outcomes(processing) == [("validation", "refused")]
    assert processing["refused"] == {"reason": "invalid", "reply": "Could you write that again?"}


@pytest.mark.parametrize("name", ["safety", "media"])
def test_safety_and_media_may_refuse_too(register: Callable[..., Probe], name: str) -> None:
    def refuse(w: Work) -> None:
        raise Refused(f"{name}:no", "No.")

    register(name, Stage.ANALYSIS, refuse)
    register("after", Stage.ANALYSIS)

    processing = run_pipeline(work())

    assert outcomes(processing) == [(name, "refused")]
    assert processing["refused"]["reason"] == f"{name}:no"


def test_a_refusal_from_any_other_processor_counts_as_a_failure(
    register: Callable[..., Probe],
) -> None:
    def refuse(w: Work) -> None:
        raise Refused("policy:mine", "No.")

    register("sentiment", Stage.ANALYSIS, refuse)
    register("after", Stage.ANALYSIS)

    processing = run_pipeline(work())

    assert outcomes(processing) == [("sentiment", "failed"), ("after", "ok")]
    assert processing["stages"][0]["error"] == "Refused: policy:mine"
    assert "refused" not in processing


def test_what_safety_redacted_is_the_engine_text_while_the_normalised_text_stays(
    register: Callable[..., Probe],
) -> None:
    def redact(w: Work) -> None:
        w.engine_text = w.text.replace("4111111111111111", "[card]")

    register("safety", Stage.ANALYSIS, redact)

    processing = run_pipeline(work("card 4111111111111111"))

    assert processing["engine_text"] == "card [card]"
    assert processing["normalized_text"] == "card 4111111111111111"

"""R8's figures from the stages the pipeline records, and their rows in the table (no services)."""

from __future__ import annotations

import math

from bench.r8_processing import disabled_processing, stage_summary
from bench.report import rows


def entry(processor: str, stage: str, ms: float, outcome: str = "ok") -> dict[str, object]:
    return {"processor": processor, "stage": stage, "outcome": outcome, "duration_ms": ms}


def test_each_processor_and_stage_is_summed_per_message_with_mean_and_p95() -> None:
    documents = [
        {"stages": [entry("message", "normalisation", 1.0), entry("content", "normalisation", 1.0),
                    entry("language", "processing", 4.0)]},
        {"stages": [entry("message", "normalisation", 3.0), entry("content", "normalisation", 0.0),
                    entry("language", "processing", 0.0, "timeout")]},
        {"stages": [entry("language", "processing", 0.0, "disabled")]},
    ]  # fmt: skip

    summary = stage_summary(documents)

    assert summary["messages"] == 3
    assert summary["stages"] == {
        "normalisation": {"mean_ms": 2.5, "p95_ms": 3.0},
        "processing": {"mean_ms": 1.333, "p95_ms": 4.0},
    }
    assert summary["total_ms"] == {"mean_ms": 3.0, "p95_ms": 6.0}
    assert summary["processors"]["language"]["outcomes"] == {"ok": 1, "timeout": 1, "disabled": 1}
    assert summary["processors"]["message"] == {
        "mean_ms": 2.0,
        "p95_ms": 3.0,
        "outcomes": {"ok": 2},
    }


def test_no_documents_give_no_figures() -> None:
    summary = stage_summary([])

    assert summary["messages"] == 0
    assert math.isnan(summary["total_ms"]["mean_ms"])


def test_processing_off_names_every_registered_processor() -> None:
    from processors.registry import processor_names

    processors = disabled_processing()["processing"]["processors"]

    assert sorted(processors) == sorted(processor_names())
    assert all(options == {"enabled": False} for options in processors.values())


def test_the_table_reports_r8_against_its_baselines() -> None:
    stages = {"analysis": {"mean_ms": 0.5, "p95_ms": 1.25}}
    r8 = {
        "pipeline": {"total_ms": {"mean_ms": 2.0, "p95_ms": 3.0}, "stages": stages},
        "processing": {"throughput": 9.0},
        "no_processing": {"throughput": 10.0, "cpu_ms_per_message": 40.0},
        "r8_ratio": 0.9,
    }

    table = {row[0]: row[1:] for row in rows({"scenarios": {"r8": r8}})}

    assert table["R8 processing on/off"] == ("9.0/s", "10.0/s", "0.900", ">= 0.9")
    assert table["R8 pipeline per message"] == ("2.00 ms", "40.00 ms", "0.050", "")
    assert table["R8 analysis mean/p95"] == ("0.500 ms", "1.250 ms", "-", "")

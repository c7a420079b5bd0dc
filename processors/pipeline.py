"""The processor pipeline the ``process`` stage runs on each inbound message: the processors
registered for the message's kind, in stage order, each within its timeout, each outcome and
duration recorded (``docs/processing.md``)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any

from core.per_process import PerProcess
from processors.base import Processor, Refused, Work
from processors.config import DEFAULT_TIMEOUT_MS
from processors.detect import detect_type
from processors.registry import get_processor

# Only these may stop a turn; a Refused from any other processor counts as a failure.
MAY_REFUSE = frozenset({"validation", "safety", "media"})
_POOL_THREADS = 8
_ERROR_CHARS = 200

# This process's threads for processors, made on first use (after a fork, never at import).
_pool = PerProcess(lambda: ThreadPoolExecutor(_POOL_THREADS, thread_name_prefix="processor"))


def timeout_ms(processor: Processor, work: Work) -> float:
    """The tenant's per-processor timeout, else the processor's own, else the tenant's global."""
    own = work.options(processor.name).get("timeout_ms") or getattr(processor, "timeout_ms", None)
    return float(own or work.config.get("timeout_ms") or DEFAULT_TIMEOUT_MS)


def _short_error(exc: BaseException) -> str:
    """Type and message, bounded: what operators need, never the message's text."""
    return f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]


def _attempt(processor: Processor, work: Work) -> Work:
    """Runs on a copy, so a processor that fails or runs out of time leaves nothing behind."""
    trial = replace(work, results=dict(work.results))
    processor.run(trial)
    return trial


def _run_one(processor: Processor, work: Work) -> tuple[dict[str, Any], Refused | None]:
    entry: dict[str, Any] = {"processor": processor.name, "stage": processor.stage.value}
    if work.options(processor.name).get("enabled") is False:
        return {**entry, "outcome": "disabled", "duration_ms": 0.0}, None
    started = time.perf_counter()
    future = _pool.get().submit(_attempt, processor, work)
    refused: Refused | None = None
    try:
        trial = future.result(timeout=timeout_ms(processor, work) / 1000)
    except FutureTimeout:
        entry["outcome"] = "timeout"
    except Refused as exc:
        if processor.name in MAY_REFUSE:
            entry["outcome"], refused = "refused", exc
        else:
            entry["outcome"], entry["error"] = "failed", _short_error(exc)
    except Exception as exc:
        entry["outcome"], entry["error"] = "failed", _short_error(exc)
    else:
        entry["outcome"] = "ok"
        work.text, work.engine_text = trial.text, trial.engine_text
        if processor.name in trial.results:
            work.results[processor.name] = trial.results[processor.name]
    entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return entry, refused


def run_pipeline(work: Work) -> dict[str, Any]:
    """The ``processing`` document for the message: what each processor found, the stages."""
    stages: list[dict[str, Any]] = []
    refused: Refused | None = None
    for processor in get_processor(work.kind):
        entry, refused = _run_one(processor, work)
        stages.append(entry)
        if refused is not None:
            break
    document: dict[str, Any] = {
        **work.results,
        "normalized_text": work.text,
        "message_type": detect_type(work.text).value,
        "length": len(work.text),
        "kind": work.kind.value,
        "engine_text": work.engine_text if work.engine_text is not None else work.text,
        "stages": stages,
    }
    if refused is not None:
        document["refused"] = {"reason": refused.reason, "reply": refused.reply}
    return document

"""R1 and R2 at more than one level of parallelism: the knob, the settings each level gives
Parley and the baselines, the growth figures, and their rows in the table (no services)."""

from __future__ import annotations

import math

import pytest

from bench.config import BenchConfig
from bench.report import rows
from bench.scaling import chain_env, growth, ingress_env
from bench.stack import bare_ingress_command, bare_worker_commands
from core.settings import Settings
from core.stages import NAMES
from tasks.queues import QUEUES, worker_concurrency


def test_the_levels_default_to_one_and_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_BENCH_SCALE", raising=False)
    assert BenchConfig.from_env().scale == (1, 2)
    monkeypatch.setenv("PARLEY_BENCH_SCALE", "1,2,4")
    assert BenchConfig.from_env().scale == (1, 2, 4)


@pytest.mark.parametrize("value", ["0,1", "2,2"])
def test_a_level_below_one_or_repeated_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_BENCH_SCALE", value)
    with pytest.raises(SystemExit, match="PARLEY_BENCH_SCALE"):
        BenchConfig.from_env()


def test_a_chain_level_sets_each_chain_queue_and_leaves_the_others_as_shipped() -> None:
    settings = Settings(worker_concurrency=chain_env(2)["PARLEY_WORKER_CONCURRENCY"])

    assert {queue: worker_concurrency(queue, settings) for queue in NAMES} == dict.fromkeys(
        NAMES, 2
    )
    for queue in set(QUEUES) - set(NAMES):
        assert worker_concurrency(queue, settings) == QUEUES[queue].concurrency


def test_an_ingress_level_is_the_ingress_workers_setting() -> None:
    assert (
        Settings(ingress_workers=int(ingress_env(2)["PARLEY_INGRESS_WORKERS"])).ingress_workers == 2
    )


def test_the_baselines_run_at_the_level_too() -> None:
    assert bare_ingress_command(8123, 2)[-2:] == ["--workers", "2"]
    scaled = bare_worker_commands(2)
    assert sorted(scaled) == sorted(f"bare-{stage}" for stage in NAMES)
    for stage in NAMES:
        assert "--concurrency=2" in scaled[f"bare-{stage}"]
        assert f"--pool={QUEUES[stage].pool}" in scaled[f"bare-{stage}"]
    shipped = bare_worker_commands()
    assert f"--concurrency={QUEUES['generate'].concurrency}" in shipped["bare-generate"]


def test_growth_is_each_level_over_the_first_for_both_and_their_ratio() -> None:
    grown = growth({"1": (100.0, 1000.0), "2": (150.0, 1200.0), "4": (200.0, 0.0)})

    assert grown["2"] == {"parley": 1.5, "bare": 1.2, "ratio": 1.25}
    assert grown["4"]["parley"] == 2.0
    assert grown["4"]["bare"] == 0.0
    assert math.isnan(grown["4"]["ratio"])
    assert "1" not in grown


def _r1_route(rate: float, bare: float) -> dict[str, float]:
    return {"rate": rate, "bare_rate": bare, "ratio": rate / bare, "p50_ms": 1.0,
            "p99_ms": 2.0, "bare_p50_ms": 0.5, "bare_p99_ms": 1.0}  # fmt: skip


def _r2_level(rate: float, bare: float) -> dict[str, object]:
    return {"parley": {"r2": {"throughput": rate}}, "bare": {"r2": {"throughput": bare}},
            "r2_ratio": rate / bare}  # fmt: skip


def test_the_table_reports_each_level_and_the_growth_against_the_baselines() -> None:
    one = {"webhook": _r1_route(200.0, 2000.0), "api": _r1_route(100.0, 2000.0)}
    two = {"webhook": _r1_route(300.0, 2500.0), "api": _r1_route(150.0, 2500.0)}
    r1 = {
        **one,
        "processes": {"1": one, "2": two},
        "growth": {
            "webhook": growth({"1": (200.0, 2000.0), "2": (300.0, 2500.0)}),
            "api": growth({"1": (100.0, 2000.0), "2": (150.0, 2500.0)}),
        },
    }
    r2 = {
        **_r2_level(10.0, 100.0),
        "concurrency_levels": {"1": _r2_level(4.0, 50.0), "2": _r2_level(6.0, 80.0)},
        "growth": growth({"1": (4.0, 50.0), "2": (6.0, 80.0)}),
    }

    table = {row[0]: row[1:] for row in rows({"scenarios": {"r1": r1, "r2": r2}})}

    assert table["R1 webhook"] == ("200.0/s", "2000.0/s", "0.100", ">= 0.5")
    assert table["R1 webhook, 2 ingress proc"] == ("300.0/s", "2500.0/s", "0.120", "")
    assert table["R1 api, 1 ingress proc"] == ("100.0/s", "2000.0/s", "0.050", "")
    assert table["R1 webhook growth 1->2 proc"] == ("1.50x", "1.25x", "1.200", "")
    assert table["R2"] == ("10.0/s", "100.0/s", "0.100", ">= 0.5")
    assert table["R2, concurrency 2 per queue"] == ("6.0/s", "80.0/s", "0.075", "")
    assert table["R2 growth concurrency 1->2"] == ("1.50x", "1.60x", "0.938", "")

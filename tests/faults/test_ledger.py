"""The ledger suite: one fault per scenario under real load, and every accepted turn accounted for.

Each scenario starts the platform afresh, registers a Messenger page for a new tenant, sends the
load through the Messenger fake while its fault strikes, waits for every accepted turn to end,
then prints one ledger line (also written to ``.parley/faults/ledger.txt``) and asserts on it.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from random import Random
from typing import Any

import httpx
import pytest
from pymongo.errors import PyMongoError
from testenv import ENGINE_PORT, free_port

from core import devstack
from core.settings import Settings
from ingress.tokens import mint_token
from tests.faults.config import OUTPUT_DIR, FaultsConfig
from tests.faults.injectors import SCENARIOS, FaultContext, Scenario
from tests.faults.ledger import (
    DeadLetter,
    Inbound,
    Ledger,
    ProviderSend,
    Store,
    count_inversions,
    expected_events,
    tally,
    view_turns,
)
from tests.faults.load import LoadPlan, LoadResult, send_load
from tests.faults.platform import running_platform
from tests.faults.witnesses import EventTap, RecordingMessenger, read_store, wait_terminal

pytestmark = pytest.mark.faults

_CONFIG = FaultsConfig.from_env()
# Start-up, the load with its retry tail, the longest fault, the drain, the events, shutdown.
SCENARIO_TIMEOUT = 420 + _CONFIG.load_seconds + _CONFIG.drain_cap_seconds + _CONFIG.events_seconds


@pytest.fixture(scope="module")
def notes_file() -> Path:
    """``.parley/faults/notes.txt``: each fault's timeline; process logs go to ``logs/``."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUTPUT_DIR / "logs", ignore_errors=True)
    path = OUTPUT_DIR / "notes.txt"
    path.write_text("")
    return path


@pytest.mark.timeout(SCENARIO_TIMEOUT)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_accepted_turn_is_delivered_once_in_order_despite_the_fault(
    scenario: Scenario,
    faults_config: FaultsConfig,
    faults_settings: Settings,
    scenario_db: Any,
    clean_redis: None,
    services_restored: list[str],
    ledger_file: Path,
    notes_file: Path,
) -> None:
    for name in scenario.services:
        (status,) = devstack.status([name])
        if status.state != "up":
            # A scenario that cannot inject its fault proves nothing: say so as a failure.
            pytest.fail(
                f"{name} is {status.state}: the fault needs a service `parley services up` started"
            )
    notes: list[str] = []
    try:
        ledger = run_scenario(scenario, faults_config, faults_settings, scenario_db, notes)
        notes.extend(f"e.g. {kind}: {ids}" for kind, ids in ledger.samples.items())
    finally:
        with notes_file.open("a") as out:
            out.write("".join(f"{scenario.name} {note}\n" for note in notes))
    line = ledger.line(scenario.name)
    print("\n" + line)
    with ledger_file.open("a") as out:
        out.write(line + "\n")

    assert ledger.accepted > 0, line
    assert ledger.lost == 0, line
    assert ledger.not_terminal == 0 and ledger.drain == "drained", line
    assert ledger.out_of_order == 0, line
    assert ledger.missing_events == 0, line
    assert set(ledger.reasons) <= scenario.dead_letter_reasons, line
    allowed = ledger.accepted // 100 if scenario.crash else 0
    assert ledger.duplicates <= allowed, line


def run_scenario(
    scenario: Scenario, config: FaultsConfig, settings: Settings, db: Any, notes: list[str]
) -> Ledger:
    """Platform up, page registered, load sent while the fault strikes, drain, then the tally."""
    run = f"{secrets.randbelow(10**6):06d}"
    tenant = "t_" + secrets.token_hex(4)
    page_id = "1" + run + f"{secrets.randbelow(10**8):08d}"
    app_secret = "FAKE-fb-app-secret-" + secrets.token_hex(8)
    plan = LoadPlan(run, page_id, app_secret, config.messages, config.conversations, config.rate)
    mid_prefix = f"m_FAULTS{run}-"
    stop = threading.Event()
    log_dir = OUTPUT_DIR / "logs" / scenario.name
    with (
        RecordingMessenger() as provider,
        running_platform(
            log_dir,
            ENGINE_PORT,
            free_port(),
            {"PARLEY_MESSENGER_API_BASE": provider.base_url, "PARLEY_MONGO_DB": db.name},
        ) as (base, platform),
    ):
        provider.add_page(page_id)  # the fake's page token is this page's: it proves it
        url = register_page(base, settings, tenant, page_id, app_secret, provider.page_token)
        tap = EventTap(settings.kafka_bootstrap, tenant)
        context = FaultContext(
            platform=platform,
            provider=provider,
            rng=Random(f"{config.seed}:{scenario.name}"),
            stop=stop,
            load_started=time.monotonic(),
            load_seconds=config.load_seconds,
            notes=notes,
        )
        failures: list[BaseException] = []
        fault = threading.Thread(
            target=_inject, args=(scenario, context, failures), name="fault", daemon=True
        )
        try:
            fault.start()
            load = send_load(url, plan, stop)
            fault.join(timeout=300)
            if fault.is_alive():
                raise AssertionError(f"the {scenario.name} fault did not finish in 300 s")
            if failures:
                raise AssertionError(f"the {scenario.name} fault failed") from failures[0]
            context.note(f"load done: {len(load.accepted)} accepted, {load.retried} retried")
            drain, seconds, store = wait_terminal(
                db,
                tenant,
                mid_prefix,
                load.accepted,
                config.drain_seconds,
                config.drain_cap_seconds,
            )
            context.note(f"drain {drain} after {seconds:.1f}s")
            store = store or _read_store_again(db, tenant, mid_prefix)
            events = tap.collect(
                _expected_ids(store, provider.accepted, load), config.events_seconds
            )
            for at, name, code in platform.crashes:
                context.note(f"{name} exited with {code} at t={at - context.load_started:.1f}s")
            ledger = tally(
                load.accepted,
                len(load.refused),
                store,
                list(provider.accepted),
                events,
                drain,
                seconds,
            )
            ledger.crashed = dict(Counter(name for _, name, _ in platform.crashes))
        finally:
            stop.set()
            fault.join(timeout=120)
    return ledger


def _inject(scenario: Scenario, context: FaultContext, failures: list[BaseException]) -> None:
    """The fault thread: wait for the fault's moment, inject it, keep any error for the test."""
    if scenario.inject is None or not context.sleep_until(scenario.at):
        return
    context.note(f"fault {scenario.name} starts")
    try:
        scenario.inject(context)
    except Exception as exc:
        context.note(f"fault {scenario.name} raised {exc!r}")
        failures.append(exc)
    else:
        context.note(f"fault {scenario.name} over")


def _read_store_again(db: Any, tenant: str, mid_prefix: str) -> Store:
    """The store after a drain that gave up (MongoDB may have been the thing that was down)."""
    for _ in range(30):
        try:
            return read_store(db, tenant, mid_prefix)
        except PyMongoError:
            time.sleep(1.0)
    return read_store(db, tenant, mid_prefix)


def _expected_ids(store: Store, sends: list[ProviderSend], load: LoadResult) -> set[str]:
    return expected_events(view_turns(store, sends), load.accepted)


def register_page(
    base: str, settings: Settings, tenant: str, page_id: str, app_secret: str, page_token: str
) -> str:
    """The tenant's Messenger page, registered through the admin API; returns its webhook URL."""
    token = mint_token(settings.require_jwt_secret(), tenant, "ops", 600)
    created = httpx.post(
        f"{base}/v1/admin/channels",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "channel": "messenger",
            "account_id": page_id,
            "secrets": {
                "page_token": page_token,
                "app_secret": app_secret,
                "verify_token": "FAKE-fb-verify-" + secrets.token_hex(4),
            },
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return f"{base}/webhooks/messenger/{created.json()['id']}"


def test_the_ledger_counts_inversions_between_first_sends() -> None:
    assert count_inversions([0, 1, 2, 3]) == 0
    assert count_inversions([1, 0, 2]) == 1
    assert count_inversions([3, 2, 1]) == 3


def test_the_ledger_counts_a_resent_reply_a_lost_turn_and_a_dead_letter() -> None:
    store = Store(
        inbound=[
            Inbound("msg_a", "c0-m0", "completed"),
            Inbound("msg_b", "c0-m1", "completed"),
            Inbound("msg_c", "c0-m2", "failed"),
            Inbound("msg_d", "c1-m0", "dead_lettered"),
        ],
        dead_letters=[DeadLetter("msg_d", "generate", "engine_unavailable")],
    )
    sends = [
        ProviderSend(0, "msg_b.r", "{}"),
        ProviderSend(1, "msg_a.r", "{}"),
        ProviderSend(2, "msg_a.r", "{}"),
    ]
    events = Counter({"msg_a:received": 1, "msg_a.r:sent": 2, "msg_b:received": 1})
    ledger = tally({"c0-m0", "c0-m1", "c0-m2", "c1-m0"}, 0, store, sends, events, "drained", 1.0)
    assert (ledger.delivered, ledger.duplicates, ledger.out_of_order) == (2, 1, 1)
    assert (ledger.lost, ledger.dead_lettered, ledger.reasons) == (1, 1, {"engine_unavailable": 1})
    assert (ledger.missing_events, ledger.duplicated_events, ledger.failed) == (1, 1, 1)

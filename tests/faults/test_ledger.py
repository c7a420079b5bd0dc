"""The ledger suite: one fault per scenario under real load, and every accepted turn accounted for.

Each scenario starts the platform afresh, registers a Messenger page for a new tenant, sends the
load through the Messenger fake while its fault strikes, waits for every accepted turn to end,
then prints one ledger line (also written to ``.parley/faults/ledger.txt``) and asserts on it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import statistics
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from random import Random
from typing import Any

import httpx
import pytest
from pymongo.errors import PyMongoError
from testenv import ENGINE_PORT, free_port

from consumers.audit_trail import AuditTrail
from core.settings import Settings
from core.tokens import mint_token
from services import devstack
from tests.faults.callbacks import StatusCallbacks
from tests.faults.config import OUTPUT_DIR, FaultsConfig
from tests.faults.engine_rules import multi_part_rules
from tests.faults.injectors import CONSUMER, SCENARIOS, FaultContext, Scenario
from tests.faults.ledger import (
    DeadLetter,
    Inbound,
    Ledger,
    ProviderSend,
    Store,
    StoredReply,
    count_inversions,
    expected_events,
    tally,
    turns_in_send_order,
    view_turns,
)
from tests.faults.load import LoadPlan, LoadResult, send_load
from tests.faults.platform import CHAIN_QUEUES, FaultPlatform, running_platform, task_executions
from tests.faults.witnesses import (
    EVENT_TOPICS,
    EventTap,
    RecordingMessenger,
    applied_by_audit_trail,
    read_store,
    wait_terminal,
)

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
    assert ledger.incomplete == 0, line
    assert ledger.answered_twice == 0, line
    if scenario.bounded_executions:
        assert ledger.executions is not None, f"the workers' task counts were not read: {line}"
        assert ledger.executions <= int(ledger.extras["executions_bound"]), line
    if scenario.consumer:
        # Killed mid-stream three times: every event applied by the audit trail, none twice.
        assert ledger.extras["consumer_lost"] == 0, line
        assert ledger.extras["consumer_twice"] == 0, line
    if scenario.status_callbacks:
        assert ledger.extras["callbacks_refused"] == 0, line
        assert ledger.extras["unconfirmed"] == 0, line
        # The race was run: some callbacks were applied while their reply was still being sent.
        assert int(ledger.extras["raced"]) > 0, line


# Process, generate, deliver, audit: one execution each for a turn nothing held up.
UNHURRIED_EXECUTIONS = 4


def execution_bound(accepted: int, throttled: Counter[str]) -> int:
    """The most chain task executions the scenario may cost: twice an unhurried turn's for every
    turn (a turn parked behind an earlier one costs one more deliver, and one more generate if
    it parked there too: 6 at most, and 2 more leave room for a lease or tenant-slot wait),
    plus one deliver execution per send the provider refused. The delivery policy
    (tasks/policy.py) retries a throttled send once per refusal, at the provider's Retry-After
    (``RetryPolicy.delay`` returns the hint), and gives up on a reply after ``max_attempts``
    refusals (8 for Messenger). Turns queued behind a throttled one cost nothing while they
    wait, so per turn the bound grows only with the provider's own refusals, never with polls."""
    retries = sum(throttled.values())
    return 2 * UNHURRIED_EXECUTIONS * accepted + retries


def run_scenario(
    scenario: Scenario, config: FaultsConfig, settings: Settings, db: Any, notes: list[str]
) -> Ledger:
    """Platform up, page registered, load sent while the fault strikes, drain, then the tally."""
    run = f"{secrets.randbelow(10**6):06d}"
    tenant = "t_" + secrets.token_hex(4)
    page_id = "1" + run + f"{secrets.randbelow(10**8):08d}"
    app_secret = "FAKE-fb-app-secret-" + secrets.token_hex(8)
    plan = load_plan(scenario, config, run, page_id, app_secret)
    mid_prefix = f"m_FAULTS{run}-"
    stop = threading.Event()
    log_dir = OUTPUT_DIR / "logs" / scenario.name
    env = {"PARLEY_MONGO_DB": db.name}
    if scenario.reply_parts > 1:
        rules = multi_part_rules(log_dir / "engine_rules.json", scenario.reply_parts)
        env["PARLEY_ENGINE_RULES_FILE"] = str(rules)
    with (
        RecordingMessenger() as provider,
        running_platform(
            log_dir,
            ENGINE_PORT,
            free_port(),
            {**env, "PARLEY_MESSENGER_API_BASE": provider.base_url},
        ) as (base, platform),
        ExitStack() as stack,
    ):
        provider.add_page(page_id)  # the fake's page token is this page's: it proves it
        url = register_page(base, settings, tenant, page_id, app_secret, provider.page_token)
        callbacks = None
        if scenario.status_callbacks:
            callbacks = stack.enter_context(StatusCallbacks(url, page_id, app_secret))
            provider.on_accept = callbacks.on_send
        tap = EventTap(settings.kafka_bootstrap, tenant)
        if scenario.consumer:
            _start_consumer(platform, tap, run)
        executions_before = _executions(notes)
        context = FaultContext(
            platform=platform,
            provider=provider,
            rng=Random(f"{config.seed}:{scenario.name}"),
            stop=stop,
            load_started=time.monotonic(),
            load_seconds=plan.messages / plan.rate,
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
            expected = _expected_ids(store, provider.accepted, load)
            events = tap.collect(expected, config.events_seconds)
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
            if scenario.consumer:
                missing, applied = applied_by_audit_trail(db, expected, config.events_seconds)
                ledger.extras["consumer_lost"] = len(missing)
                ledger.extras["consumer_twice"] = sum(1 for n in applied.values() if n > 1)
                notes.extend(f"consumer lost {event_id}" for event_id in sorted(missing)[:5])
            executions_after = _executions(notes)
            restarted = {name for _, name, _ in platform.crashes} & CHAIN_WORKERS
            if executions_before is not None and executions_after is not None and not restarted:
                # A restarted worker counts from 0 again: no count rather than a low one.
                ledger.executions = executions_after - executions_before
            if scenario.bounded_executions:
                bound = execution_bound(ledger.accepted, provider.throttled)
                ledger.extras["executions_bound"] = bound
                ledger.extras["bound_per_turn"] = f"{bound / max(1, ledger.accepted):.2f}"
            if provider.throttled:
                refused = provider.throttled
                ledger.extras["throttled"] = f"{sum(refused.values())}/{len(refused)}"
            if callbacks is not None:
                provider.on_accept = None
                stack.close()  # every callback answered before the replies are looked at
                ledger.extras.update(_callback_counts(callbacks, db, tenant, mid_prefix, notes))
        finally:
            stop.set()
            fault.join(timeout=120)
    return ledger


def _start_consumer(platform: FaultPlatform, tap: EventTap, run: str) -> None:
    """The audit-trail consumer, in a group of this run's that starts where the tap does, on
    the topics the tap witnesses."""
    prefix = f"parley-faults-{run}."
    tap.start_group_here(f"{prefix}{AuditTrail.name}")
    platform.start(
        CONSUMER,
        "consume",
        AuditTrail.name,
        env={
            "PARLEY_CONSUMER_GROUP_PREFIX": prefix,
            "PARLEY_CONSUMER_EVENTS": json.dumps({AuditTrail.name: list(EVENT_TOPICS)}),
        },
    )


CHAIN_WORKERS = frozenset(f"worker-{queue}" for queue in CHAIN_QUEUES)


def load_plan(
    scenario: Scenario, config: FaultsConfig, run: str, page_id: str, app_secret: str
) -> LoadPlan:
    """The configured load, scaled by the scenario's shares and spread over its length."""
    messages = max(1, round(config.messages * scenario.messages))
    conversations = max(1, min(messages, round(config.conversations * scenario.conversations)))
    rate = messages / scenario.load_seconds if scenario.load_seconds else config.rate
    return LoadPlan(run, page_id, app_secret, messages, conversations, rate)


def _executions(notes: list[str]) -> int | None:
    """The chain workers' task executions so far; a failure to count never fails a scenario."""
    try:
        return task_executions()
    except Exception as exc:
        notes.append(f"task executions not counted: {exc!r}")
        return None


def _callback_counts(
    callbacks: StatusCallbacks, db: Any, tenant: str, mid_prefix: str, notes: list[str]
) -> dict[str, object]:
    """How many status webhooks went out, how many were refused, and how many replies a
    delivery webhook was accepted for still stand below ``delivered``."""
    replies = {
        reply.message_id: reply.status
        for reply in _read_store_again(db, tenant, mid_prefix).replies
    }
    unconfirmed = sorted(
        reply_id
        for reply_id in callbacks.confirmed
        if replies.get(reply_id) not in {"delivered", "read"}
    )
    notes.extend(f"callback refused: {answer}" for answer in callbacks.refused[:5])
    if unconfirmed:
        notes.append(
            "e.g. unconfirmed: "
            + str([f"{reply_id}={replies.get(reply_id)}" for reply_id in unconfirmed[:5]])
        )
    posted = ",".join(f"{kind}:{n}" for kind, n in sorted(callbacks.posted.items()))
    return {
        "callbacks": posted or "0",
        "callbacks_retried": callbacks.retried,
        "callbacks_refused": len(callbacks.refused),
        "raced": callbacks.raced,
        # Median/longest: from the part's send to the callback's 200, and the ingress's answer.
        "callback_after_send_s": _median_max(callbacks.latencies),
        "callback_answer_s": _median_max(callbacks.answer_seconds),
        "unconfirmed": len(unconfirmed),
    }


def _median_max(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}/{max(values):.2f}" if values else "-"


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


def test_the_ledger_counts_a_later_turns_part_sent_between_an_earlier_turns_parts() -> None:
    sends = {
        0: [ProviderSend(0, "msg_a.r", "part 1"), ProviderSend(2, "msg_a.r", "part 2")],
        1: [ProviderSend(1, "msg_b.r", "part 1")],
    }
    assert turns_in_send_order(sends) == [0, 1, 0]
    assert count_inversions(turns_in_send_order(sends)) == 1


def test_the_ledger_counts_messages_answered_together_as_answered_once() -> None:
    # msg_b was sent with msg_a and answered by msg_a's reply (docs/bursts.md); msg_d's turn
    # was dead-lettered, and msg_e, answered with it, shares its fate.
    store = Store(
        inbound=[
            Inbound("msg_a", "c0-m0", "completed", "msg_a.r"),
            Inbound("msg_b", "c0-m1", "completed", "msg_a.r"),
            Inbound("msg_c", "c0-m2", "completed", "msg_c.r"),
            Inbound("msg_d", "c1-m0", "dead_lettered", "msg_d.r"),
            Inbound("msg_e", "c1-m1", "completed", "msg_d.r"),
        ],
        dead_letters=[DeadLetter("msg_d.r", "deliver", "permanent")],
        replies=[
            StoredReply("msg_a.r", 1, "delivered", ("msg_a", "msg_b")),
            StoredReply("msg_c.r", 1, "delivered", ("msg_c",)),
            StoredReply("msg_d.r", 1, "failed", ("msg_d", "msg_e")),
        ],
    )
    sends = [ProviderSend(0, "msg_a.r", "a"), ProviderSend(1, "msg_c.r", "c")]
    events = Counter(
        {"msg_a:received": 1, "msg_b:received": 1, "msg_c:received": 1, "msg_e:received": 1}
        | {"msg_a.r:sent": 1, "msg_c.r:sent": 1}
    )
    accepted = {"c0-m0", "c0-m1", "c0-m2", "c1-m0", "c1-m1"}
    ledger = tally(accepted, 0, store, sends, events, "drained", 1.0)
    assert (ledger.delivered, ledger.lost, ledger.dead_lettered) == (3, 0, 2)
    assert (ledger.out_of_order, ledger.duplicates, ledger.missing_events) == (0, 0, 0)
    assert (ledger.together, ledger.answered_twice, ledger.incomplete) == (2, 0, 0)


def test_the_ledger_counts_a_message_answered_by_two_replies() -> None:
    store = Store(
        inbound=[
            Inbound("msg_a", "c0-m0", "completed", "msg_a.r"),
            Inbound("msg_b", "c0-m1", "completed", "msg_a.r"),
        ],
        dead_letters=[],
        replies=[
            StoredReply("msg_a.r", 1, "delivered", ("msg_a", "msg_b")),
            StoredReply("msg_b.r", 1, "delivered", ("msg_b",)),
        ],
    )
    sends = [ProviderSend(0, "msg_a.r", "a"), ProviderSend(1, "msg_b.r", "b")]
    ledger = tally({"c0-m0", "c0-m1"}, 0, store, sends, Counter(), "drained", 1.0)
    assert ledger.answered_twice == 1
    assert ledger.samples["answered_twice"] == ["msg_b"]


def test_the_ledger_counts_a_completed_turn_missing_a_part_and_a_part_sent_twice() -> None:
    store = Store(
        inbound=[Inbound("msg_a", "c0-m0", "completed"), Inbound("msg_b", "c0-m1", "completed")],
        dead_letters=[],
        replies=[StoredReply("msg_a.r", 3, "delivered"), StoredReply("msg_b.r", 2, "read")],
    )
    sends = [
        ProviderSend(0, "msg_a.r", "part 1"),
        ProviderSend(1, "msg_a.r", "part 2"),
        ProviderSend(2, "msg_a.r", "part 3"),
        ProviderSend(3, "msg_b.r", "part 1"),
        ProviderSend(4, "msg_b.r", "part 1"),
    ]
    ledger = tally({"c0-m0", "c0-m1"}, 0, store, sends, Counter(), "drained", 1.0)
    assert (ledger.delivered, ledger.incomplete, ledger.duplicates) == (2, 1, 1)
    assert ledger.out_of_order == 0


def test_the_execution_bound_allows_one_retry_per_provider_refusal() -> None:
    assert execution_bound(10, Counter()) == 80
    assert execution_bound(10, Counter({"msg_a.r": 3, "msg_b.r": 8})) == 80 + 11

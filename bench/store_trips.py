"""Round trips to MongoDB and Redis per message: what the platform's ingress and each stage's
workers sent the stores while a pipeline load ran, divided by the messages it carried.

Read from the processes' own counters (``parley_http_request_round_trips`` on the ingress's
``/metrics``, ``parley_stage_round_trips`` on each worker's metrics port; storage/round_trips.py)
before and after the load, so it is every turn as the load made it: first turns of a
conversation, re-runs, waits and parked turns included. ``tests/e2e/test_round_trip_budget.py``
counts one follow-up turn exactly; this is the average a load pays.
"""

from __future__ import annotations

from collections import defaultdict

import httpx

STORES = ("mongo", "redis")
_FAMILIES = ("parley_http_request_round_trips_sum{", "parley_stage_round_trips_sum{")


def _labels(text: str) -> dict[str, str]:
    inner = text[text.index("{") + 1 : text.rindex("}")]
    pairs = (part.split("=", 1) for part in inner.split('",') if "=" in part)
    return {key.strip(): value.strip().strip('"') for key, value in pairs}


def snapshot(urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """{part: {store: round trips so far}} from each named metrics endpoint (``ingress``, or
    a stage's worker): a part is the ingress or a stage."""
    counted: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(STORES, 0.0))
    for name, url in urls.items():
        text = httpx.get(url, timeout=5).text
        for line in text.splitlines():
            if not line.startswith(_FAMILIES):
                continue
            series, value = line.rsplit(" ", 1)
            labels = _labels(series)
            part = "ingress" if name == "ingress" else labels.get("stage", name)
            store = labels.get("store", "")
            if store in STORES:
                counted[part][store] += float(value)
    return {part: dict(stores) for part, stores in counted.items()}


def per_message(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], messages: int
) -> dict[str, object]:
    """Round trips a message cost, by store in all and by part."""
    by_part = {
        part: {
            store: round((stores[store] - before.get(part, {}).get(store, 0.0)) / messages, 2)
            for store in STORES
        }
        for part, stores in sorted(after.items())
    }
    return {
        **{store: round(sum(p[store] for p in by_part.values()), 2) for store in STORES},
        "by_part": by_part,
    }

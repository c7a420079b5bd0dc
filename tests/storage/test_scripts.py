"""storage.scripts runs many calls of one Lua script in one pipeline, at one round trip, and
recovers when the server has forgotten the script (restarted or flushed)."""

from __future__ import annotations

import secrets

from redis import Redis

from core.settings import Settings
from storage.round_trips import counted_redis, counting
from storage.scripts import PipelinedScript

_INCR_BY = "return redis.call('incrby', KEYS[1], ARGV[1])"


def test_many_calls_of_a_known_script_cost_one_round_trip(settings: Settings) -> None:
    client = counted_redis(Redis.from_url(settings.redis_url))
    key = f"parley-test:scripts:{secrets.token_hex(4)}"
    try:
        script = PipelinedScript(client, _INCR_BY)
        script([key], [1])  # the server knows the script from here on
        with counting() as tally:
            results = script.run_all([([key], [2]), ([key], [3]), ([key], [4])])
        assert results == [3, 6, 10]
        assert (tally.redis, tally.redis_commands) == (1, ["EVALSHA"])
    finally:
        client.delete(key)
        client.close()


def test_a_script_the_server_does_not_know_is_loaded_and_every_call_runs_once(
    settings: Settings,
) -> None:
    client = Redis.from_url(settings.redis_url)
    key = f"parley-test:scripts:{secrets.token_hex(4)}"
    # A source never sent before, as a restarted or flushed server would know none (flushing
    # the shared server's scripts would disturb every other client of it).
    source = f"{_INCR_BY} -- {secrets.token_hex(8)}"
    try:
        script = PipelinedScript(client, source)
        assert client.script_exists(script.sha) == [False]
        assert script.run_all([([key], [2]), ([key], [3])]) == [2, 5]
        assert int(client.get(key) or 0) == 5
        assert script.run_all([]) == []
    finally:
        client.delete(key)
        client.close()

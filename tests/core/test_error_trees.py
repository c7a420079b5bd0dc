"""Every error Parley raises on purpose hangs on its package's tree, on the branch that says
whether retrying can help."""

from __future__ import annotations

from core.errors import (
    Conflict,
    InvalidToken,
    KeysUnavailable,
    ParleyError,
    PermanentError,
    TransientError,
)
from storage.errors import LeaseLost, OrderIndexLost
from tasks.errors import PoisonMessage, StageError, StoreBusy


def test_passing_failures_are_transient_so_the_stage_is_retried() -> None:
    for error in (StoreBusy, OrderIndexLost, KeysUnavailable):
        assert issubclass(error, TransientError), error


def test_a_poison_message_is_a_stage_error_that_is_never_retried() -> None:
    assert issubclass(PoisonMessage, StageError)
    assert not issubclass(PoisonMessage, TransientError | PermanentError)
    assert issubclass(StoreBusy, StageError)


def test_a_lost_lease_is_a_conflict_and_a_bad_token_a_parley_error() -> None:
    assert issubclass(LeaseLost, Conflict)
    assert issubclass(InvalidToken, ParleyError)
    assert InvalidToken("the token has expired", "expired").code == "expired"

"""One object per process: made once on first use, made anew in a forked child, and handed
back to be closed only by the process that made it."""

from __future__ import annotations

import os

from core.per_process import PerProcess


def test_the_object_is_made_once_and_made_again_after_a_discard() -> None:
    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    holder = PerProcess(make)

    first = holder.get()
    assert holder.get() is first and len(made) == 1
    assert holder.discard() is first
    assert holder.get() is not first and len(made) == 2


def test_a_forked_child_makes_its_own_and_never_closes_the_parents() -> None:
    holder = PerProcess(object)
    parents = holder.get()
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if it saw what the parent must never share
        ok = holder.discard() is None and holder.get() is not parents
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert holder.get() is parents

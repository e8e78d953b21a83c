"""Preemptive turns' bookkeeping (pure): on its way, taken, discarded, its task ended."""

from __future__ import annotations

from voicebot.turntaking.inputs import DiscardTurn, StartTurn
from voicebot.turntaking.preemptive import Preemption, Preemptive

PARTS = ({"type": "text", "text": "x"},)


def test_sent_then_taken_by_its_utterance() -> None:
    p = Preemption()
    assert not p.busy and p.discard() is None
    assert p.send(Preemptive(3, 1600, PARTS, 0.5)) == StartTurn(3, PARTS, None, preemptive=True)
    assert p.busy and not p.discarding
    assert p.take(1700) is None and p.busy  # another utterance's end
    pre = p.take(1600)
    assert pre is not None and pre.number == 3 and not p.busy
    assert (p.sent, p.discarded) == (1, 0)


def test_discarded_until_its_task_ends() -> None:
    p = Preemption()
    p.send(Preemptive(2, 0, PARTS, 0.5))
    assert p.discard() == DiscardTurn(2)
    assert p.busy and p.discarding and p.take(0) is None
    assert p.discard() is None  # nothing on its way any more
    assert not p.task_ended(1) and p.discarding  # another turn's task
    assert p.task_ended(2) and not p.busy
    assert (p.sent, p.discarded) == (1, 1)

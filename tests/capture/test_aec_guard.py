"""The echo guard (pure): which frames of the canceller's output may reach the VAD."""

from __future__ import annotations

import ast
import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.capture import aec_guard
from voicebot.capture.aec_guard import EchoGuard

REF = 1e9  # a loud reference frame's power
ECHO = REF / 10  # its echo, 10 dB down


def test_imports_nothing() -> None:
    tree = ast.parse(inspect.getsource(aec_guard))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"__future__", "collections"}, names  # the standard library only


def _learnt() -> EchoGuard:
    guard = EchoGuard(min_reference_power=1.0)
    assert guard.admit(ECHO, ECHO / 1000, REF)  # cancelled 30 dB: learns the echo's level
    assert guard.erl == pytest.approx(0.1)
    return guard


@pytest.mark.parametrize(("mic", "out", "ref", "admitted"), [
    (ECHO, ECHO / 1000, REF, True),  # the canceller works
    (ECHO, ECHO / 2, REF, False),  # echo it missed (3 dB removed)
    (ECHO, ECHO / 30, REF, False),  # a filter still converging leaks (15 dB removed)
    (ECHO, ECHO, REF, False),  # the echo is lost altogether
    (ECHO / 4, ECHO / 4, REF, False),  # a quieter stretch of missed echo
    (10 * ECHO, 9 * ECHO, REF, True),  # a talker 10 dB louder than any echo
    (ECHO, ECHO, 0.5, True),  # nothing loud played: nothing to fear
])
def test_table(mic: float, out: float, ref: float, admitted: bool) -> None:
    assert _learnt().admit(mic, out, ref) is admitted


def test_nothing_is_silenced_before_the_echo_is_learnt() -> None:
    guard = EchoGuard(min_reference_power=1.0)  # headphones: the mic never hears the reply
    assert all(guard.admit(100.0, 100.0, REF) for _ in range(50))
    assert guard.erl is None and not guard.lost


@pytest.mark.parametrize(("filter_out", "learns"), [
    (ECHO / 1000, True),  # the linear filter itself removed 30 dB: echo
    (ECHO / 4, True),  # 6 dB by the filter, the suppressor did the rest: echo
    (ECHO / 2, False),  # 3 dB: a talker the suppressor thinned over a young filter
    (ECHO, False),  # nothing removed by the filter
    (None, True),  # no suppressor to tell apart: the output is the filter's
])
def test_the_echo_is_learnt_only_where_the_linear_filter_removed_it(
        filter_out: float | None, learns: bool) -> None:
    guard = EchoGuard(min_reference_power=1.0)
    assert guard.admit(ECHO, ECHO / 1000, REF, filter_out)  # 30 dB out in all
    assert (guard.erl is not None) is learns
    # Unlearnt, a quieter frame the canceller left alone still passes (no echo known).
    assert guard.admit(ECHO / 10, ECHO / 10, REF, ECHO / 10) is (not learns)


#: A frame the suppressor took 30 dB out of but the filter only 3 dB (unproven).
UNPROVEN = (ECHO, ECHO / 1000, REF, ECHO / 2)


@pytest.mark.parametrize(("gap", "learns"), [(0, True), (5, True), (25, True), (26, False)])
def test_a_proof_vouches_for_the_unproven_frames_just_before_it(gap: int, learns: bool) -> None:
    """The rig's first reply: the suppressor takes 15 dB out of the echo's loudest
    frames before the filter has taken 6 dB out of any; the filter's first proof
    comes on a quieter frame. Learning from the proof alone left the echo's level
    8 dB low and the reply's next loud frames passed as a talker."""
    guard = EchoGuard(min_reference_power=1.0, confirm_frames=25)
    assert guard.admit(*UNPROVEN)  # the loud echo: nothing learnt yet
    assert guard.erl is None
    for _ in range(gap - 1):
        guard.admit(ECHO / 100, ECHO / 100, REF, ECHO / 100)  # quiet, nothing to learn
    guard.admit(ECHO / 10, ECHO / 1e4, REF, ECHO / 100)  # proven, 10 dB quieter
    assert guard.erl == pytest.approx(0.1 if learns else 0.01)
    assert guard.admit(ECHO, ECHO, REF) is not learns  # the loud echo missed again


@pytest.mark.parametrize(("gap", "learns"), [(1, True), (25, True), (26, False)])
def test_a_proof_vouches_for_the_unproven_frames_just_after_it(gap: int, learns: bool) -> None:
    guard = EchoGuard(min_reference_power=1.0, confirm_frames=25)
    guard.admit(ECHO / 10, ECHO / 1e4, REF, ECHO / 100)  # proven
    for _ in range(gap - 1):
        guard.admit(ECHO / 100, ECHO / 100, REF, ECHO / 100)
    guard.admit(*UNPROVEN)
    assert guard.erl == pytest.approx(0.1 if learns else 0.01)


def test_unproven_frames_alone_never_teach_the_echo() -> None:
    """A question over the kiosk's wake earcon, no echo: the suppressor thins the
    talker's words, the filter proves nothing, the guard learns nothing."""
    guard = EchoGuard(min_reference_power=1.0, confirm_frames=25)
    for _ in range(200):
        assert guard.admit(*UNPROVEN)
        assert guard.admit(ECHO / 10, ECHO / 10, REF, ECHO / 10)  # quieter words pass
    assert guard.erl is None


@pytest.mark.parametrize("order", ["proof first", "unproven first"])
def test_a_pause_in_the_reference_separates_a_proof_from_unproven_frames(order: str) -> None:
    """A reply ends on a proven frame; minutes later the user's question over the
    wake earcon is thinned by the suppressor (the reverse order too): no echo to learn.
    Quiet reference counts as time, and a new stretch of reference (refresh) forgets
    both."""
    for pause, refresh in ((30_000, False), (0, True)):
        guard = EchoGuard(min_reference_power=1.0, confirm_frames=25)
        proof = (ECHO / 10, ECHO / 1e4, REF, ECHO / 100)
        first, second = (proof, UNPROVEN) if order == "proof first" else (UNPROVEN, proof)
        guard.admit(*first)
        for _ in range(pause):
            guard.admit(ECHO / 1e4, ECHO / 1e4, 0.5, ECHO / 1e4)  # quiet reference
        if refresh:
            guard.refresh(50)  # the echo stage became active again
        guard.admit(*second)
        assert guard.erl == pytest.approx(0.01), (pause, refresh)


@given(st.lists(st.tuples(st.booleans(), st.floats(1e-3, 1.0)), min_size=1, max_size=60),
       st.integers(1, 30))
@settings(max_examples=200)
def test_the_learnt_level_is_a_proven_frames_or_a_neighbours(
        frames: list[tuple[bool, float]], confirm: int) -> None:
    """With no decay: the learnt level is the largest over the proven frames and the
    unproven ones within ``confirm`` frames of a proven one, whatever the order."""
    guard = EchoGuard(min_reference_power=1.0, confirm_frames=confirm, erl_decay_db=0.0)
    for proven, level in frames:
        mic = level * REF
        guard.admit(mic, mic / 1e3, REF, mic / 1e3 if proven else mic / 2)
    proofs = [i for i, (proven, _) in enumerate(frames) if proven]
    counted = [level for i, (_, level) in enumerate(frames)
               if any(abs(i - j) <= confirm for j in proofs)]
    if counted:
        assert guard.erl == pytest.approx(max(counted))
    else:
        assert guard.erl is None


def test_lost_after_frames_in_a_row_and_found_again() -> None:
    guard = _learnt()
    for k in range(4):
        assert not guard.lost
        assert not guard.admit(ECHO, ECHO, REF)
    assert guard.lost and guard.silenced_frames == 4
    assert guard.admit(ECHO, ECHO / 1000, REF)
    assert not guard.lost


def test_leaking_is_silenced_but_not_lost() -> None:
    guard = _learnt()
    assert not any(guard.admit(ECHO, ECHO / 30, REF) for _ in range(10))
    assert not guard.lost  # 15 dB removed: the delay is right, the filter converging


def test_the_learnt_level_decays_towards_a_quieter_room() -> None:
    guard = _learnt()
    for _ in range(200):
        guard.admit(ECHO / 100, ECHO / 1e5, REF)  # the speaker turned down 20 dB
    assert guard.erl is not None and guard.erl < 0.1 * 10 ** (-1.5)


@given(st.floats(1.0, 1e12), st.floats(1.0, 1e12), st.lists(st.floats(0.0, 1e12), max_size=30))
@settings(max_examples=200)
def test_well_cancelled_frames_always_pass(mic: float, ref: float, history: list[float]) -> None:
    """Whatever came before, a frame that lost >= 20 dB passes; so does any frame
    without loud reference."""
    guard = EchoGuard(min_reference_power=10.0)
    for p in history:
        guard.admit(p, p / 3, ref)
    assert guard.admit(mic, mic / 101, ref)  # (101: clear of rounding at exactly 20 dB)
    assert guard.admit(mic, mic, 10.0)


def test_a_young_filter_must_remove_more() -> None:
    guard = EchoGuard(min_reference_power=1.0, young_frames=10)
    guard.admit(ECHO, ECHO / 1000, REF)  # learns; frame 1 of 10
    assert not any(guard.admit(ECHO, ECHO / 30, REF) for _ in range(9))  # 15 dB: leaking
    assert guard.admit(ECHO, ECHO / 30, REF)  # grown up: 15 dB is cancelled
    assert not guard.admit(ECHO, ECHO / 5, REF)  # 7 dB is still not


def test_refresh_makes_the_next_frames_young_again() -> None:
    guard = EchoGuard(min_reference_power=1.0, young_frames=4)
    for _ in range(6):
        guard.admit(ECHO, ECHO / 1000, REF)  # learns, grows up
    assert guard.admit(ECHO, ECHO / 30, REF)  # 15 dB: cancelled enough when grown up
    guard.refresh(3)  # a new reply: the filter re-converges
    assert not any(guard.admit(ECHO, ECHO / 30, REF) for _ in range(3))
    assert guard.admit(ECHO, ECHO / 30, REF)
    assert guard.admit(ECHO * 10, ECHO * 10, REF)  # a talker louder than any echo: always
    guard.refresh(0)
    assert guard.admit(ECHO, ECHO / 30, REF)


def test_refresh_never_prolongs_youth() -> None:
    guard = EchoGuard(min_reference_power=1.0, young_frames=10)
    guard.admit(ECHO, ECHO / 1000, REF)  # frame 1 of 10
    guard.refresh(3)
    assert not any(guard.admit(ECHO, ECHO / 30, REF) for _ in range(9))  # still 2..10
    assert guard.admit(ECHO, ECHO / 30, REF)


def test_the_residue_of_a_loud_echo_is_silenced_once_grown_up() -> None:
    guard = EchoGuard(min_reference_power=1.0, residual_db=-25.0, young_frames=3)
    assert all(guard.admit(ECHO, ECHO / 1000, REF) for _ in range(3))  # young: passes
    assert guard.erl == pytest.approx(0.1)
    assert not guard.admit(ECHO, ECHO / 1000, REF)  # 30 dB below the echo: residue
    assert not guard.lost  # the canceller works: nothing to measure again
    assert guard.admit(ECHO, ECHO / 100, REF)  # 20 dB below: maybe a quiet talker
    # A reply 30 dB quieter: its own loudest echo is the yardstick.
    assert guard.admit(ECHO / 1000, ECHO / 1e5, REF / 1000)  # 20 dB below it
    assert not guard.admit(ECHO / 1000, ECHO / 1e6, REF / 1000)  # 30 dB below it
    assert guard.admit(10 * ECHO, 9 * ECHO, REF)  # a talker over the reply
    assert guard.admit(ECHO, ECHO / 1000, 0.5)  # nothing loud played


def test_a_young_filters_residue_is_silenced_below_its_own_floor() -> None:
    """The rig's second reply after a barge-in: the filter, young again, removed 26-31
    dB of the echo, and what was left (30-35 dB below the echo) passed to a VAD that
    called it speech: the reply interrupted itself 0.4 s in. While young the floor is
    ``young_residual_db``: lower, for a young suppressor also thins a talker."""
    def young_guard(young_residual_db: float | None) -> EchoGuard:
        guard = EchoGuard(min_reference_power=1.0, residual_db=-25.0, young_frames=100,
                          young_residual_db=young_residual_db)
        assert guard.admit(ECHO, ECHO / 1000, REF)  # learns the echo's level
        return guard

    guard = young_guard(-30.0)
    assert not guard.admit(ECHO / 2, ECHO / 2 / 10 ** 2.8, REF)  # 28 dB removed: 31 below
    assert guard.admit(ECHO, ECHO / 10 ** 2.7, REF)  # 27 below the echo: maybe a talker
    assert young_guard(None).admit(ECHO / 2, ECHO / 2 / 10 ** 2.8, REF)  # control: passed


@given(st.lists(st.tuples(st.floats(1.0, 1e12), st.floats(0.0, 1e12), st.floats(0.0, 1e12)),
                max_size=40))
@settings(max_examples=200)
def test_the_residue_rule_only_ever_silences_more(frames: list[tuple[float, float, float]]) -> None:
    """Fed the same frames, the guard with the residue rule admits a subset of what the
    guard without it admits (it learns the same echo level from them)."""
    plain = EchoGuard(min_reference_power=10.0)
    strict = EchoGuard(min_reference_power=10.0, residual_db=-25.0)
    for mic, out, ref in frames:
        out = min(out, mic)
        admitted = strict.admit(mic, out, ref)
        assert plain.admit(mic, out, ref) or not admitted
        assert strict.erl == plain.erl


@pytest.mark.parametrize(("mic", "ref", "admitted"), [
    (ECHO / 10, REF, True),  # 10 dB under the echo: a talker's first, quiet sounds
    (ECHO / 500, REF, True),  # 27 dB under: still a talker's (a clipped onset is worse)
    (ECHO / 2000, REF, False),  # 33 dB under: the room's reverberation
    (2 * ECHO, REF, True),  # louder than the echo: a talker
    (1e-3, 0.5, True),  # nothing loud played: nothing to fear
])
def test_the_tail_after_the_canceller_stopped_is_judged_by_level(mic: float, ref: float,
                                                                 admitted: bool) -> None:
    guard = _learnt()
    assert guard.admit_tail(mic, ref) is admitted


def test_the_tail_teaches_the_guard_nothing() -> None:
    """The next reply meets the guard as the last reply left it: the tail's frames
    change neither the echo's level, nor how young the filter is judged, nor the
    count towards a lost echo."""
    guard = _learnt()
    before = (guard.erl, guard.young, guard.lost)
    for mic in (ECHO, ECHO / 100, ECHO / 1e5, 10 * ECHO) * 20:
        guard.admit_tail(mic, REF)
    assert (guard.erl, guard.young, guard.lost) == before
    control = _learnt()
    for _ in range(80):
        control.admit(ECHO / 100, ECHO / 1e5, REF)  # what admit() would have made of them
    assert control.erl != before[0], "control: judging them as cancelled frames learns"


def test_before_the_echo_is_learnt_the_tail_passes_whole() -> None:
    guard = EchoGuard(min_reference_power=1.0)
    assert all(guard.admit_tail(m, REF) for m in (ECHO, ECHO / 1e6, 0.0))

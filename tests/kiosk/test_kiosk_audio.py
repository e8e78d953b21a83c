"""``voicebot kiosk`` end to end on the PipeWire virtual devices.

eSpeak NG speech is played into the virtual microphone; the kiosk answers through
``voicebot serve`` in a process of its own, as a kiosk's server runs elsewhere (the
embedded server's speech engines hold the GIL for 100-300 ms at a time, which
starves the speaker's callback and chops an earcon played meanwhile); the virtual
speaker's monitor is recorded and the earcons are found on it by their waveforms
(voicebot/kiosk/earcons.py makes them from numbers). systemd's notify protocol is
read from a socket standing in for ``NOTIFY_SOCKET``.
"""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soxr

from e2e.replyserver import ReplyServer
from kioskproc import Kiosk, find_earcon, rms, say_into_mic
from procs import child_env
from signals import best_lag
from speech import compose
from vdev import RECORD_RATE, SpeakerRecorder, play_into_mic, speaker_loopback, write_wav
from voicebot.audio import API_SAMPLE_RATE, decode_wav, float_to_pcm16
from voicebot.capture.aec import aec_available
from voicebot.kiosk.earcons import duration_ms
from voicebot.kiosk.enroll import negatives_path, synthetic_negatives
from voicebot.kiosk.passage import reading_passage

QUESTION = [0.3, "what time is it", 0.9]
WOKEN = [1.0, "hey jarvis,", 0.05, "what time is it?", 1.0]
PAUSED = [1.0, "hey jarvis.", 1.2, "what time is it?", 1.0]


def _question_sent_whole(kiosk: Kiosk) -> None:
    """The first turn's audio holds all of WOKEN's question: from the wake word's end
    to the question's end (eSpeak NG's own timing, the truth) and 100 ms of the VAD's
    300 ms tail. With echo cancellation, the echo guard once learnt the talker as
    the wake earcon's echo and the utterance ended at the earcon (0.80-0.93 s sent,
    "what i did" heard); the cut errs by ±60 ms on the rig."""
    _, truth = compose(WOKEN, 16_000)
    question_s = truth[1].end_s - truth[0].end_s
    user = next(e for e in kiosk.seen if e["type"] == "user")
    assert user["audio_s"] >= question_s + 0.1, (user, question_s)


def _tells_the_time(text: str) -> bool:
    """The embedded server's answer: "It's 5:02 AM." or, through the kiosk's time
    tool, "It is Monday 30 November 2026, 05:02 (UTC)."."""
    return bool(re.search(r"\bit(?:'s| is)\b.*\d:\d\d", text, re.IGNORECASE))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``voicebot serve`` on a free port: its base URL."""
    port = _free_port()
    proc = _serve(port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_answers_with_earcons_in_order(audio_devices: None, server: str, tmp_path: Path) -> None:
    """No wake word: "what time is it" is answered; on the speaker: the thinking
    earcon, then the reply, then the done earcon."""
    with SpeakerRecorder() as rec, Kiosk(["--wake-word", "none", "--base-url", server]) as kiosk:
        kiosk.wait_for(90, "state", state="listening")
        say_into_mic(tmp_path, "q", QUESTION)
        done = kiosk.wait_for(60, "turn.done")
        kiosk.drain(1.0)  # the done earcon plays after the reply has drained
        assert kiosk.stop() == 130, kiosk.stderr
    assert _tells_the_time(done["text"]), done
    x = rec.samples
    thinking, s_thinking = find_earcon(x, "thinking")
    done_at, s_done = find_earcon(x, "done", start=thinking)
    assert s_thinking > 0.9 and s_done > 0.9, (s_thinking, s_done)
    thinking_end = thinking + int(duration_ms("thinking") * RECORD_RATE / 1000)
    assert thinking_end < done_at
    # The reply lies between them: speech, far louder than the silence around.
    between = x[thinking_end:done_at]
    assert rms(between) > 10 * rms(x[:thinking]) + 1e-4, "no reply between the earcons"
    types = [e["type"] for e in kiosk.seen]
    assert types.index("user") < types.index("turn.done")


def test_timer_set_by_voice_fires_aloud(audio_devices: None, server: str, tmp_path: Path) -> None:
    """"set a timer for four seconds": the server calls the kiosk's timer tool; when
    it fires, the timer earcon plays and the announcement is spoken (a turn of its
    own, through the server), with nobody speaking."""
    with SpeakerRecorder() as rec, Kiosk(["--wake-word", "none", "--base-url", server]) as kiosk:
        kiosk.wait_for(90, "state", state="listening")
        say_into_mic(tmp_path, "timer", [0.3, "set a timer for four seconds", 0.9])
        first = kiosk.wait_for(60, "turn.done")
        fired = kiosk.wait_for(30, "timer.fired")
        spoken = kiosk.wait_for(30, "turn.done", turn=first["turn"] + 1)
        kiosk.drain(0.5)
        assert kiosk.stop() == 130, kiosk.stderr
    assert any(e["type"] == "tool_call" and e["name"] == "set_timer" for e in kiosk.seen)
    assert "done" in fired["text"] and "4 seconds" in fired["text"], fired
    assert "timer" in spoken["text"].lower() and spoken["audio_bytes"] > 0, spoken
    x = rec.samples
    at, score = find_earcon(x, "timer")
    assert score > 0.9, score
    after = x[at + int(duration_ms("timer") * RECORD_RATE / 1000):]
    assert rms(after[:RECORD_RATE * 3]) > 10 * rms(x[:RECORD_RATE // 5]) + 1e-4, \
        "nothing spoken after the timer's earcon"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "voicebot", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=child_env())
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("voicebot serve did not start")


def test_upstream_stopped_and_restarted(audio_devices: None, tmp_path: Path) -> None:
    """The server goes away: a question fails, the kiosk says so once (error event and
    earcon), probes with back-off and, once the server is back, answers again."""
    port = _free_port()
    server = _serve(port)
    try:
        with SpeakerRecorder() as rec, Kiosk(["--wake-word", "none", "--base-url",
                                              f"http://127.0.0.1:{port}"]) as kiosk:
            kiosk.wait_for(30, "state", state="listening")
            say_into_mic(tmp_path, "q1", QUESTION)
            kiosk.wait_for(60, "turn.done")
            server.terminate()
            server.wait(timeout=30)
            say_into_mic(tmp_path, "q2", QUESTION)
            kiosk.wait_for(60, "error", turn=2)  # the outage's own error comes just before
            outage = [e for e in kiosk.seen if e["type"] == "error" and e.get("turn") is None]
            assert outage and "cannot be reached" in outage[0]["message"], kiosk.seen
            server = _serve(port)
            kiosk.wait_for(30, "notice", message="the server can be reached again")
            say_into_mic(tmp_path, "q3", QUESTION)
            done = kiosk.wait_for(60, "turn.done")
            assert _tells_the_time(done["text"]), done
            assert kiosk.stop() == 130, kiosk.stderr
    finally:
        server.kill()
        server.wait(timeout=10)
    outages = [e for e in kiosk.seen if e["type"] == "error" and e.get("turn") is None]
    assert len(outages) == 1, outages  # said once
    _, score = find_earcon(rec.samples, "error")
    assert score > 0.9, score


def test_systemd_notify_and_watchdog(audio_devices: None, server: str, tmp_path: Path) -> None:
    """READY=1 once it listens, STATUS=… for each state, WATCHDOG=1 while alive; a
    stopped process (SIGSTOP: its loop and capture frozen) sends no WATCHDOG=1."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    got: list[tuple[float, dict[str, str]]] = []

    def read() -> None:
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                return
            got.append((time.monotonic(), dict(line.split("=", 1)
                                               for line in data.decode().splitlines())))

    threading.Thread(target=read, daemon=True).start()
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}  # a ping every 0.2 s
    try:
        with Kiosk(["--wake-word", "none", "--base-url", server], env=env) as kiosk:
            kiosk.wait_for(90, "state", state="listening")
            time.sleep(1.0)
            kiosk.proc.send_signal(19)  # SIGSTOP
            stopped_at = time.monotonic()
            time.sleep(1.0)
            resumed_at = time.monotonic()
            kiosk.proc.send_signal(18)  # SIGCONT
            time.sleep(1.0)
            assert kiosk.stop() == 130, kiosk.stderr
    finally:
        sock.close()
    keys = [k for _, m in got for k in m]
    assert keys.count("READY") == 1
    statuses = [m["STATUS"] for _, m in got if "STATUS" in m]
    assert "listening" in statuses and statuses[-1] == "stopping", statuses
    pings = [t for t, m in got if "WATCHDOG" in m]
    assert any(t < stopped_at for t in pings) and any(t > resumed_at for t in pings)
    # Received while the process was stopped: at most one already on its way.
    assert len([t for t in pings if stopped_at + 0.05 < t < resumed_at]) == 0, pings


@pytest.mark.parametrize("voice", ["en-us"])
def test_wake_word_gates_the_question(audio_devices: None, server: str, tmp_path: Path,
                                     voice: str) -> None:
    """"what time is it" alone is not answered; "hey jarvis, what time is it" in one
    breath is, the wake earcon first."""
    with SpeakerRecorder() as rec, Kiosk(["--wake-word", "hey_jarvis", "--base-url",
                                          server]) as kiosk:
        kiosk.wait_for(90, "state", state="sleeping")
        say_into_mic(tmp_path, "alone", QUESTION, voice=voice)
        ignored = kiosk.wait_for(30, "utterance.ignored")
        assert ignored["reason"] == "no_wake_word"
        say_into_mic(tmp_path, "woken", WOKEN, voice=voice)
        done = kiosk.wait_for(60, "turn.done")
        kiosk.drain(1.0)
        assert kiosk.stop() == 130, kiosk.stderr
    assert _tells_the_time(done["text"]), done
    _question_sent_whole(kiosk)
    assert [e["turn"] for e in kiosk.seen if e["type"] == "turn.done"] == [1]
    wake, s_wake = find_earcon(rec.samples, "wake")
    thinking, s_thinking = find_earcon(rec.samples, "thinking", start=wake)
    assert s_wake > 0.9 and s_thinking > 0.9, (s_wake, s_thinking)


def test_wake_word_then_a_pause_then_the_question(audio_devices: None, server: str,
                                                  tmp_path: Path) -> None:
    """"Hey jarvis." [1.2 s: the earcon] "What time is it?" is answered: the wake
    word's own utterance is no turn (the kiosk sent its tail and answered "I didn't
    catch anything", and the question said over that was lost)."""
    with Kiosk(["--wake-word", "hey_jarvis", "--base-url", server]) as kiosk:
        kiosk.wait_for(90, "state", state="sleeping")
        say_into_mic(tmp_path, "paused", PAUSED)
        done = kiosk.wait_for(60, "turn.done")
        kiosk.drain(1.0)
        assert kiosk.stop() == 130, kiosk.stderr
    assert _tells_the_time(done["text"]), done
    ignored = [e["reason"] for e in kiosk.seen if e["type"] == "utterance.ignored"]
    assert ignored == ["wake_word_only"], kiosk.seen
    assert [e["turn"] for e in kiosk.seen if e["type"] == "turn.done"] == [1]
    _, truth = compose(PAUSED, 16_000)
    user = next(e for e in kiosk.seen if e["type"] == "user")
    assert user["audio_s"] >= truth[1].end_s - truth[1].start_s, user  # the question whole


def test_screen_buttons_talk_and_mute(audio_devices: None, server: str, tmp_path: Path) -> None:
    """With --screen: the page's Talk button stands in for the wake word (the question
    after it is answered), and Mute reaches the kiosk as a ``mute`` record."""
    import asyncio
    import json

    import websockets

    port = _free_port()

    async def press(message: dict[str, object]) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.recv()  # the first snapshot
            await ws.send(json.dumps(message))
            await asyncio.sleep(0.2)

    with Kiosk(["--wake-word", "hey_jarvis", "--base-url", server, "--screen", "--port",
                str(port)]) as kiosk:
        kiosk.wait_for(90, "state", state="sleeping")
        asyncio.run(press({"type": "talk"}))
        kiosk.wait_for(10, "state", state="listening")
        say_into_mic(tmp_path, "q", QUESTION)
        done = kiosk.wait_for(60, "turn.done")
        asyncio.run(press({"type": "mute", "muted": True}))
        kiosk.wait_for(10, "mute", muted=True)
        assert kiosk.stop() == 130, kiosk.stderr
    assert _tells_the_time(done["text"]), done


def test_microphone_unplugged_and_plugged_back(audio_devices: None, server: str,
                                               tmp_path: Path) -> None:
    """The virtual microphone's sink unloaded under a sleeping kiosk (a USB microphone
    pulled out) and loaded again: the kiosk says it lost it, takes it back with no
    restart, and answers the next wake word."""
    from e2e.rig import load_sink, sink_exists, unload_sink
    from vdev import MIC_SINK

    try:
        with Kiosk(["--wake-word", "hey_jarvis", "--base-url", server]) as kiosk:
            kiosk.wait_for(90, "state", state="sleeping")
            unload_sink(MIC_SINK)
            lost = kiosk.wait_for(30, "device", kind="input", state="lost")
            load_sink(MIC_SINK)
            kiosk.wait_for(60, "device", kind="input", state="back")
            # Listening was muted while the microphone was away, so the wake-word model
            # warms up again on the new audio (~1.9 s of context before its scores
            # count): said sooner, the wake word is found late, during the question, and
            # the question's first words are trimmed with it ("what time is it" was sent
            # as "i read it").
            time.sleep(2.5)
            say_into_mic(tmp_path, "woken", WOKEN)
            # The first question after the microphone came back is answered (it was
            # misheard in about 1 run in 20: the echo guard cut its end, fixed).
            done = kiosk.wait_for(60, "turn.done")
            _question_sent_whole(kiosk)
            pid = kiosk.proc.pid
            assert kiosk.proc.poll() is None  # the same process, never restarted
            assert kiosk.stop() == 130, kiosk.stderr
    finally:
        if not sink_exists(MIC_SINK):
            load_sink(MIC_SINK)
    assert pid and lost["message"]
    assert _tells_the_time(done["text"]), done


#: The scripted reply (every word synthesised alone, so where each begins is known).
STORY = ("once upon a time a keeper lived in a lighthouse far out at sea and every night "
         "he climbed the stairs").split()


@pytest.mark.skipif(not aec_available(), reason="libspeexdsp1 is not installed")
def test_wake_word_stops_a_reply_heard_through_the_speaker(audio_devices: None,
                                                          tmp_path: Path) -> None:
    """Echo cancellation (``--aec on``), the speaker's monitor looped into the
    microphone (40 ms, -10 dB: a desk speaker's microphone), a scripted server: the
    kiosk listens while it speaks.

    1. A 7 s reply with nobody speaking plays to its end: the kiosk's own voice and
       earcons wake nothing and start no utterance, during the reply or after it
       (when the follow-up window would make one a turn).
    2. "Hey jarvis, what time is it" said over the next reply (the story twice) stops
       it: the stream is hung up, the history keeps what was heard, and the question
       (the audio after the wake word) is sent and answered. The model misses the wake
       word over a reply now and then (on the rig it scored 0.41 in 1 of 23 runs, 0.91
       -1.00 in the others; scripts/bench_wake_over_reply.py: 12-14 of 36 takes under 0.5
       over a simulated room's echo: README, "Echo cancellation in the kiosk"),
       so a user who is not heard says it again, once, as a person would.
    """
    parts: list[str | float] = []
    for word in STORY:
        parts += [word, 0.03]
    story, truth = compose(parts, API_SAMPLE_RATE, wpm=200)
    story = 0.5 * story / np.abs(story).max()
    story_s = len(story) / API_SAMPLE_RATE
    answer, _ = compose([0.05, "it is noon", 0.05], API_SAMPLE_RATE)
    question, _ = compose(["what time is it?"], 16_000)
    with ReplyServer(float_to_pcm16(story), " ".join(STORY), piece_delay_s=0.08) as server, \
            speaker_loopback(40, -10.0), SpeakerRecorder() as rec, \
            Kiosk(["--wake-word", "hey_jarvis", "--aec", "on",
                   "--base-url", server.base_url]) as kiosk:
        kiosk.wait_for(90, "state", state="sleeping")
        say_into_mic(tmp_path, "ask", [1.0, "hey jarvis,", 0.05, "tell me a story", 1.0])
        first = kiosk.wait_for(60, "turn.done")
        kiosk.drain(2.0)  # the echo's tail, the done earcon, the hang-over after them
        alone = list(kiosk.seen)
        # The next reply is long enough for the wake word to be said twice over it.
        server.reply_pcm = float_to_pcm16(np.concatenate([story, story]))
        server.transcript = " ".join(STORY + STORY)
        say_into_mic(tmp_path, "again", [1.0, "hey jarvis,", 0.05, "another one", 1.0])
        kiosk.wait_for(60, "state", state="speaking")
        time.sleep(1.0)
        say_into_mic(tmp_path, "over", WOKEN)
        try:
            cut = kiosk.wait_for(3, "interrupted")
        except AssertionError:  # not heard (the -v log says the model's best score)
            say_into_mic(tmp_path, "over-again", WOKEN[1:], wait=False)
            cut = kiosk.wait_for(20, "interrupted")
        server.reply_pcm, server.transcript = float_to_pcm16(answer), "It is noon."
        done = kiosk.wait_for(60, "turn.done")
        assert kiosk.stop() == 130, kiosk.stderr

    # 1. The whole reply, heard by nobody but the listener.
    kinds = [e["type"] for e in alone]
    assert first["turn"] == 1 and "interrupted" not in kinds, alone
    assert kinds.count("utterance") == 1 and "utterance.ignored" not in kinds, kinds
    assert server.hung_up_at[0] is None
    x = soxr.resample(rec.samples, RECORD_RATE, 16_000).astype(np.float32)
    ref = soxr.resample(story, API_SAMPLE_RATE, 16_000).astype(np.float32)
    # Where it starts, from its second second (the thinking earcon may overlap its
    # first; a whole-reply match would suffer from an underrun on a loaded machine).
    # The second reply is the same story: the first of the matches is this one.
    at, score = best_lag(x, ref[16_000:32_000])
    assert score > 0.9, score
    earlier, score = best_lag(x[:at], ref[16_000:32_000])
    if score > 0.9:
        at = earlier
    at -= 16_000
    loud = np.flatnonzero(np.abs(x[at:at + len(ref) + 8000]) > 0.01)
    assert (loud[-1] - loud[0]) / 16_000 > story_s - 0.3, ((loud[-1] - loud[0]) / 16_000,
                                                          story_s)

    # 2. Cut by the wake word, the history keeping what was heard; the question answered.
    assert (cut["turn"], cut["reason"]) == (2, "wake_word"), cut
    assert 0 < cut["played_ms"] < 1000 * 2 * story_s - 1000, (cut, story_s)
    assert server.hung_up_at[1] is not None, "the cut reply's stream was not hung up"
    assert len(server.requests) == 3 and done["turn"] == 3, (done, len(server.requests))
    history = server.requests[2]["messages"]
    said = [m for m in history if m["role"] == "assistant"][-1]
    text = said["content"] if isinstance(said["content"], str) else "".join(
        p.get("text", "") for p in said["content"])
    assert "audio" not in said and " ".join(STORY + STORY).startswith(text.strip()), said
    heard_words = sum(1 for w in truth for start_s in (w.start_s, w.start_s + story_s)
                      if start_s < cut["played_ms"] / 1000)
    assert abs(len(text.split()) - heard_words) <= 3, (text, heard_words)
    # The audio after the wake word (where it ends is estimated: the question's end,
    # said once the reply had stopped, is the part that must be there).
    sent = _sent_audio(server.requests[2])
    spoken = np.flatnonzero(np.abs(question) > 0.02)
    end_of_question = question[(spoken[0] + spoken[-1]) // 2:spoken[-1]]
    _, score = best_lag(sent, end_of_question)
    assert score > 0.6 and len(sent) < len(question) + 16_000, (score, len(sent) / 16_000)
    assert [e["turn"] for e in kiosk.seen if e["type"] == "turn.done"] == [1, 3]


def _sent_audio(request: dict) -> np.ndarray:
    """The user's audio of a chat-completions request, float32 16 kHz."""
    part = next(p for p in request["messages"][-1]["content"] if p["type"] == "input_audio")
    samples, info = decode_wav(base64.b64decode(part["input_audio"]["data"]))
    mono = samples[:, 0]
    return (soxr.resample(mono, info.sample_rate, 16_000) if info.sample_rate != 16_000
            else mono).astype(np.float32)


def test_enroll_records_takes_and_a_reading(audio_devices: None, tmp_path: Path) -> None:
    """``voicebot kiosk --enroll 2 --enroll-lines 1``: the wake word said at each prompt
    and the passage's lines read into the virtual microphone make a verifier."""
    data = tmp_path / "data"
    texts = ["hey jarvis", "hey jarvis", *reading_passage("hey_jarvis", 1)]
    wavs = []  # made before the prompts: a person answers a prompt at once
    for slot, text in enumerate(texts):
        x, _ = compose([0.1, text, 0.2], 16_000, voice="en-us", wpm=170)
        wavs.append(str(tmp_path / f"slot{slot}.wav"))
        write_wav(wavs[-1], x, 16_000)
    # The synthetic negatives the command makes (8 min of speech, ~40 s of CPU; a minute
    # here, tests/kiosk/test_verifier.py covers their making) put where it looks for
    # them: the virtual microphone's room tone is digital silence, which mixes in
    # nothing, so they are the room-tone-free ones. (Were the rig's room tone audible,
    # the command would make its own: slower, the same test.)
    where = negatives_path(tmp_path / ".cache" / "voicebot" / "wakeword", "hey_jarvis",
                           base_threshold=0.02, room_tone=None)
    where.parent.mkdir(parents=True)
    np.save(where, synthetic_negatives("hey_jarvis", base_threshold=0.02, room_tone=None,
                                       minutes=1.0))
    with Kiosk(["--wake-word", "hey_jarvis", "--enroll", "2", "--enroll-lines", "1"],
               env={"XDG_DATA_HOME": str(data), "HOME": str(tmp_path)}) as kiosk:
        for slot, text in enumerate(texts):
            prompt = kiosk.wait_for(30, "enroll.prompt", slot=slot)
            assert prompt.get("say", prompt.get("read")) == text
            play_into_mic(wavs[slot], wait=False)
        kiosk.wait_for(240, "enrolled")
        assert kiosk.proc.wait(timeout=30) == 0, kiosk.stderr_so_far()
    enrolled = next(e for e in kiosk.seen if e["type"] == "enrolled")
    assert enrolled["takes_heard"] == 2 and enrolled["reading_windows"] > 0, enrolled
    assert (data / "voicebot" / "wakeword" / "hey_jarvis.verifier.npz").is_file()
    assert len(list((data / "voicebot" / "wakeword").glob("*.people/person-1.npz"))) == 1

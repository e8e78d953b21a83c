"""Preemptive turns end to end, without devices: the real capture path (a file read at
real time, webrtcvad, the segmenter reporting pauses), the driver and the embedded
server on 127.0.0.1.

A question with a pause in it ("what is twelve … times seven") sends a preemptive
request in the pause, which is discarded when the speech resumes; the whole question
is answered, once; the discarded reply is neither heard nor in the history.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from speech import compose
from test_many_conversations import Recorder, server  # noqa: F401 - a fixture
from vdev import write_wav

from voicebot.capture.listen import capture_events
from voicebot.capture.mic import FileSource
from voicebot.capture.segmenter import SegmenterConfig
from voicebot.capture.vad import UtteranceDetector
from voicebot.driver import Driver
from voicebot.session.client import ChatClient
from voicebot.session.conversation import UserTurn
from voicebot.session.turn import RequestOptions, Session
from voicebot.turntaking import Policy, TurnTaking
from voicebot.turntaking.events import Event, Summary, TurnDone


def test_a_pause_inside_a_question_costs_a_request_and_nothing_else(server: Any,
                                                                    tmp_path: Path) -> None:
    said, _ = compose([0.4, "what is twelve", 0.35, "times seven", 1.2,
                       "what is two plus two", 1.2], 16_000)
    path = tmp_path / "q.wav"
    write_wav(str(path), said, 16_000)
    vad = SegmenterConfig(pause_ms=240)
    events: list[Event] = []
    sink = Recorder()

    async def main() -> Session:
        session = Session(ChatClient(server.base_url), RequestOptions(model="local"))
        driver = Driver(TurnTaking(Policy(pace_transcript=False, preemptive=True,
                                          vad_tail_ms=vad.tail_ms)),
                        session, sinks=[sink], subscribers=[events.append])
        async with session.client:
            await driver.run(capture_events(FileSource(str(path), realtime=True),
                                            UtteranceDetector(vad)))
        return session

    session = asyncio.run(main())
    done = [e for e in events if isinstance(e, TurnDone)]
    assert [d.turn for d in done] == [1, 2]
    answers = [re.findall(r"\d+", d.text)[-1] for d in done]
    assert answers == ["84", "4"], [d.text for d in done]
    [summary] = [e for e in events if isinstance(e, Summary)]
    # The pause inside the first question sent a request, discarded; the one that
    # ended it sent the turn's. (The second question's is sent only if the first turn
    # was over by then: the server loads its engines during the first.)
    assert summary.preemptive["discarded"] == 1 and summary.preemptive["sent"] in (2, 3)
    # The answer was on its way before the end of the turn was decided.
    assert done[0].latency_ms["request_sent"] < done[0].latency_ms["endpoint"]
    assert sink.total_bytes == sum(d.audio_bytes for d in done)
    users = [e for e in session.conversation._entries if isinstance(e, UserTurn)]
    assert len(users) == 2

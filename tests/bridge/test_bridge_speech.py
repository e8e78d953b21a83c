"""End to end over /ws: a program streams espeak speech in real time (20 ms frames)
to a bridge whose upstream is the embedded server; it gets the spoken answer as
binary PCM with the transcript events, and speaking over a long answer (while
reporting what it played) interrupts it with the words it had heard."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from bridgehelp import running_bridge
from speech import compose
from websockets.asyncio.client import connect
from wsclient import BridgeClient

from voicebot.server.assistant import CAPABILITIES
from voicebot.server.serve import EmbeddedServer, start_embedded


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedServer]:
    server = start_embedded()
    yield server
    server.stop()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def test_spoken_turns_and_a_barge_in_over_the_websocket(embedded: EmbeddedServer) -> None:
    async def main() -> None:
        async with running_bridge(embedded.base_url) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                client = BridgeClient(ws, sample_rate=16_000, frame_ms=20)
                ready = await client.hello()
                assert ready["input"] == {"format": "pcm16", "sample_rate": 16000}
                tasks = [asyncio.create_task(t()) for t in
                         (client.receiver, client.reporter, client.microphone)]
                try:
                    await conversation(client)
                finally:
                    for task in tasks:
                        task.cancel()
    asyncio.run(main())


async def conversation(client: BridgeClient) -> None:
    question, truth = compose([0.3, "what is two plus three", 0.3])
    client.say(question)
    utterance = await client.wait_for("utterance", turn=1)
    # The VAD found the question whole (it starts after 0.3 s of silence).
    assert utterance["start_s"] <= truth[0].start_s + 0.05
    assert utterance["end_s"] >= truth[0].end_s
    user = await client.wait_for("user", turn=1)
    assert "plus" in (user["transcript"] or "")
    done = await client.wait_for("turn.done", turn=1)
    assert "5" in done["text"] or "five" in done["text"].lower()
    assert client.text_of(1).strip() == done["text"].strip()
    assert len(client.audio) == done["audio_bytes"] > 0  # the reply, every byte
    # turn.done came once the client had played it: its reports placed the listener.
    assert client.played * 2 >= done["audio_bytes"] - 4800

    # A long answer, and the user speaks over it after about 1.5 s of it.
    mark = len(client.records)
    heard_before = len(client.audio) // 2
    ask, _ = compose([0.2, "what can you do", 0.3])
    client.say(ask)
    await client.wait_for("state", state="speaking", after=mark)
    while client.played - heard_before < int(1.5 * 24_000):
        await asyncio.sleep(0.05)
    over, _ = compose(["what time is it", 0.3])
    client.say(over)
    cut = await client.wait_for("interrupted", turn=2, timeout=20)
    assert cut["reason"] == "barge_in"
    heard = words(cut["text"])
    full = words(CAPABILITIES)
    # What was heard: a real start of the answer, not all of it.
    assert 2 <= len(heard) < len(full) and full[:len(heard)] == heard
    assert 1500 <= cut["played_ms"] <= 6000
    # The speech over the reply is the next turn, and it is answered.
    third = await client.wait_for("turn.done", turn=3, timeout=30)
    assert third["text"] and "time" in (await client.wait_for("user", turn=3))["transcript"]
    assert not [r for r in client.records if r["type"] == "error"]

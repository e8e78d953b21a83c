"""A child process for the PortAudio-rescan test: the kiosk's way of opening devices.

Started while the sound server is down, so PortAudio lists no device at all. Opens
the microphone and the speaker through :class:`voicebot.recovery.devices.AudioDevices`
with ``wait_for_device`` (as the kiosk does), prints every ``DeviceStatus`` as a
JSON line, then the first utterance it hears (its PCM16 16 kHz written to argv[1])
and how often PortAudio was rescanned.
"""

from __future__ import annotations

import asyncio
import json
import sys

from voicebot.capture.segmenter import UtteranceEnded
from voicebot.capture.vad import UtteranceDetector
from voicebot.playback.speaker import Speaker
from voicebot.recovery.devices import AudioDevices
from voicebot.turntaking.events import Event


def say(record: dict) -> None:
    print(json.dumps(record), flush=True)


async def main(path: str) -> None:
    def status(event: Event) -> None:
        say(event.to_dict())

    devices = AudioDevices(None, lambda: Speaker(None), on_status=status, wait_for_device=True)
    speaker = await devices.speaker()
    mic = devices.microphone()
    await mic.open()
    say({"type": "opened", "rescans": devices.host.rescans})
    try:
        async for report in mic.reports(UtteranceDetector()):
            if isinstance(report.event, UtteranceEnded):
                with open(path, "wb") as f:
                    f.write(report.event.pcm)
                say({"type": "utterance", "rescans": devices.host.rescans,
                     "speaker_streams": speaker.streams_opened})
                break
    finally:
        await mic.aclose()
        speaker.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""Capture: microphone or file → VAD → utterances (PCM16 16 kHz mono).

- :mod:`.segmenter`: pure state machine, VAD frames → utterance events.
- :mod:`.ring`: pure :class:`~.ring.BlockRing`, the preallocated block pool the
  microphone callback copies into (sequence numbers, overwrite detection).
- :mod:`.vad`: conversion (:class:`~.vad.CaptureConverter`, soxr), framing and webrtcvad
  (:class:`~.vad.UtteranceDetector`).
- :mod:`.mic`: the I/O edges (:class:`~.mic.MicrophoneSource`, :class:`~.mic.FileSource`)
  and :func:`~.mic.utterances`, which joins a source to a detector on the event loop.

Nothing is re-exported here: importing the pure segmenter must not load the edges'
libraries (asyncio, soxr, webrtcvad, sounddevice). Import from the modules.
"""

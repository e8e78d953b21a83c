"""Capture: microphone or file → VAD → utterances (PCM16 16 kHz mono).

- :mod:`.segmenter`: pure state machine, VAD frames → utterance events.
- :mod:`.events`: pure, those events (speech started, paused, resumed; utterance ended
  or discarded).
- :mod:`.ring`: pure :class:`~.ring.BlockRing`, the preallocated block pool the
  capture thread copies into for ``blocks()`` (sequence numbers, overwrite detection).
- :mod:`.report`: pure :class:`~.report.CaptureReport`, what capture tells the loop.
- :mod:`.vad`: conversion (:class:`~.vad.CaptureConverter`, soxr), framing and webrtcvad
  (:class:`~.vad.UtteranceDetector`).
- :mod:`.worker`: the microphone's capture thread (blocking reads; conversion, VAD
  and segmentation where the samples arrive).
- :mod:`.filesource`: :class:`~.filesource.FileSource`, a file standing in for the
  microphone.
- :mod:`.mic`: the I/O edge, :class:`~.mic.MicrophoneSource` (and :class:`~.mic.FileSource`
  re-exported).
- :mod:`.listen`: :func:`~.listen.capture_events` / :func:`~.listen.utterances`, which
  join a source to a detector.

Nothing is re-exported here: importing the pure segmenter must not load the edges'
libraries (asyncio, soxr, webrtcvad, sounddevice). Import from the modules.
"""

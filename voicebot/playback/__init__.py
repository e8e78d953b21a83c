"""Playback: streamed reply audio → jitter buffer → speaker (or a WAV file), and
transcript text paced to the audio.

- :mod:`.jitter` (pure): :class:`~.jitter.JitterBuffer`, prebuffer, underrun fades,
  cancel; SPSC ring.
- :mod:`.transcript` (pure): :class:`~.transcript.TranscriptPacer` releases transcript
  characters as audio plays.
- :mod:`.sinks`: the :class:`~.sinks.Sink` protocol the session pushes audio deltas into,
  :class:`~.sinks.WavSink`, :class:`~.sinks.NullSink`.
- :mod:`.speaker` (I/O edge, PortAudio): :class:`~.speaker.Speaker`.

Nothing is re-exported here: importing the pure jitter buffer must not load the
speaker's libraries (asyncio, soxr, sounddevice). Import from the modules.
"""

"""Audio devices that vanish and come back: capture and playback without a restart.

- :mod:`.host`: the process's PortAudio (open streams counted; re-initialised, to
  rescan the devices, only while none is open).
- :mod:`.server`: a thin edge over the sound server (``pactl``, PipeWire or
  PulseAudio) for what PortAudio cannot see: which device a stream really runs on.
- :mod:`.mic`: :class:`~.mic.ResilientMicrophone`, capture reports across streams.
- :mod:`.speaker`: :class:`~.speaker.ResilientSpeaker`, a :class:`Sink` across streams.

Each tells the conversation with :class:`~voicebot.turntaking.events.DeviceStatus`
records (``lost`` with the retry delay, then ``back``) and retries with
:class:`~voicebot.audio.backoff.Backoff` (0.5 s doubling to 10 s). This
``__init__`` imports nothing.
"""

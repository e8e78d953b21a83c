"""``voicebot selftest``: does the speaker reach the microphone, and how well?

:mod:`.analysis` is pure (numpy only: the probe signal, delay by cross-correlation,
levels, the verdict); :mod:`.run` plays and records on PortAudio and prints. This
``__init__`` imports nothing.
"""

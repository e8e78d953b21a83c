"""The Raspberry Pi kiosk: wake word, earcons, status screen, service.

- :mod:`.wakeword`: the wake-word detector run on the capture thread
  (``WakeWordConfig``, ``WakeWordDetector``, ``WakeDetection``); :mod:`.gate`, which
  audio its model hears (VAD gate, rolling pre-roll; pure); :mod:`.engines`,
  openWakeWord and microWakeWord behind one interface.

Imports nothing: ``voicebot.kiosk.screenstate`` and ``voicebot.kiosk.gate`` are pure
cores and must load no I/O library through this package (``tests/test_imports.py``).
"""

"""The Raspberry Pi kiosk: ``voicebot kiosk``, always listening for its wake word.

- :mod:`.run`: the command's wiring (microphone, speaker, session, the turn-taking
  driver with a wake-word or push-to-talk policy, earcons, spoken timers).
- :mod:`.listen`: the capture thread's wake-word tap (detections → core inputs).
- :mod:`.wakeword`: the wake-word detector run on the capture thread
  (``WakeWordConfig``, ``WakeWordDetector``, ``WakeDetection``).
- :mod:`.gate`: which audio the wake-word model hears (VAD gate, rolling pre-roll;
  pure).
- :mod:`.engines`: openWakeWord and microWakeWord behind one interface.
- :mod:`.earcons`: the short sounds, synthesised (pure; ``scripts/make_earcons.py``
  writes them to ``assets/earcons/``).
- :mod:`.controls`: talk and mute from a terminal key or the status screen.
- :mod:`.backoff` (pure) and :mod:`.upstream`: the API server's reachability,
  probed with back-off.
- :mod:`.announce`: proactive speech (a timer that fired), through the server or
  the local speech engine.
- :mod:`.notify`: systemd's notify protocol (READY, STATUS, WATCHDOG).
- :mod:`.service`: the systemd unit ``--install-service`` writes.
- :mod:`.screen` and :mod:`.screenstate` (pure): the status screen (``--screen``).

This package ``__init__`` re-exports nothing: importing a pure piece loads no I/O
library.
"""

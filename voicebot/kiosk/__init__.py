"""The Raspberry Pi kiosk: ``voicebot kiosk``, always listening for its wake word.

- :mod:`.wakeword`: the wake-word detector run on the capture thread
  (``WakeWordConfig``, ``WakeWordDetector``, ``WakeDetection``).
- :mod:`.gate`: which audio the wake-word model hears (VAD gate, rolling pre-roll;
  pure).
- :mod:`.engines`: openWakeWord and microWakeWord behind one interface.

This package ``__init__`` re-exports nothing: importing a pure piece loads no I/O
library.
"""

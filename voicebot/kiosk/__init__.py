"""The Raspberry Pi kiosk: wake word, earcons, status screen, service.

Imports nothing: ``voicebot.kiosk.screenstate`` is a pure core and must load no I/O
library through this package (``tests/test_imports.py``).
"""

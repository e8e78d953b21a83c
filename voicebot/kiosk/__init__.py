"""The Raspberry Pi kiosk: ``voicebot kiosk``, always listening for its wake word.

- :mod:`.run`: the command's wiring (microphone, speaker, session, the turn-taking
  driver with a wake-word or push-to-talk policy, earcons, spoken timers).
- :mod:`.earcons`: the short sounds, synthesised (pure; ``scripts/make_earcons.py``
  writes them to ``assets/earcons/``).
- :mod:`.controls`: talk and mute from a terminal key or the status screen.
- :mod:`.upstream`: the API server's reachability, probed with back-off.
- :mod:`.notify`: systemd's notify protocol (READY, STATUS, WATCHDOG).
- :mod:`.service`: the systemd unit ``--install-service`` writes.

This package ``__init__`` re-exports nothing: importing a pure piece loads no I/O
library.
"""

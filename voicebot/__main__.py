"""``python -m voicebot`` and the ``voicebot`` command.

The command's entry point is :func:`run`, not ``cli.main`` itself: a Ctrl-C while
the modules still load (a second on a Raspberry Pi) must end as quietly as one later.
"""

from __future__ import annotations

import sys


def run() -> None:
    import signal

    pending: list[int] = []
    # Ctrl-C while the command's modules load is held until they have (see
    # cli.interrupts_deferred, which this cannot import before they load).
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        from .cli import main
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    try:
        code = main()
    except KeyboardInterrupt:
        # Before main's own handler is in place: building the parser, parsing (CI
        # caught one in argparse on Python 3.13, Ctrl-C 0.3 s after the start).
        sys.stderr.write("interrupted\n")
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    run()

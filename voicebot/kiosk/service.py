"""The kiosk's systemd unit: rendered here, written by ``voicebot kiosk --install-service``.

``Type=notify`` with ``WatchdogSec=``: the kiosk says READY=1 once it listens, its
state as STATUS=…, and WATCHDOG=1 only while its event loop runs and the microphone
delivers (:mod:`.notify`); ``Restart=always`` with no start limit brings it back
after anything. It runs as an unprivileged user in the ``audio`` group with the
config file given by path, so it needs no flags. PipeWire (Raspberry Pi OS
Bookworm) runs per user: the unit points ``XDG_RUNTIME_DIR`` at that user's
runtime directory, which exists at boot once ``loginctl enable-linger USER`` was
run. ``deploy/systemd/voicebot-kiosk.service`` is :func:`render_unit` with the
defaults (a test keeps them equal).

Pure apart from :func:`install`, which looks the user up and writes one file.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["UnitOptions", "render_unit", "install", "UNIT_PATH", "DEFAULT_CONFIG"]

UNIT_PATH = "/etc/systemd/system/voicebot-kiosk.service"
DEFAULT_CONFIG = "/etc/voicebot/kiosk.toml"


@dataclass(frozen=True)
class UnitOptions:
    """What the unit needs to know about this machine."""
    executable: str = "/opt/voicebot/.venv/bin/voicebot"
    config_path: str = DEFAULT_CONFIG
    user: str = "voicebot"
    uid: int = 1001
    watchdog_s: int = 30


def render_unit(o: UnitOptions) -> str:
    """The unit file's text."""
    return f"""\
# voicebot kiosk: always listening, restarted after anything.
# Written by `voicebot kiosk --install-service` (or copy this file, adjusting User=,
# the uid in XDG_RUNTIME_DIR and the paths), then:
#   sudo loginctl enable-linger {o.user}     # its PipeWire runs at boot, logged in or not
#   sudo systemctl daemon-reload && sudo systemctl enable --now voicebot-kiosk
# Logs: journalctl -u voicebot-kiosk -f     State: systemctl status voicebot-kiosk
[Unit]
Description=voicebot kiosk (wake word, spoken answers)
Wants=network-online.target
After=network-online.target sound.target
# Never give up restarting: a kiosk has nobody to start it again.
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
ExecStart={o.executable} kiosk --config {o.config_path}
# The kiosk pings every WatchdogSec/2 while its event loop runs and the microphone
# delivers; a frozen process or a stalled capture is restarted.
WatchdogSec={o.watchdog_s}
# The embedded server loads its speech models before READY=1.
TimeoutStartSec=120
TimeoutStopSec=15
Restart=always
RestartSec=2
# SIGTERM (systemctl stop) exits 143 after a clean shutdown: not a failure.
SuccessExitStatus=143
User={o.user}
SupplementaryGroups=audio
# The user's PipeWire (pipewire-pulse, or ALSA through pipewire-alsa).
Environment=XDG_RUNTIME_DIR=/run/user/{o.uid}
Environment=PYTHONUNBUFFERED=1
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
"""


def install(*, user: str | None, config_path: str | None, path: str = UNIT_PATH,
            executable: str | None = None) -> str:
    """Write the unit for ``user`` (default: who ran sudo, else this user) to ``path``;
    returns the path. Raises :class:`ConfigError` with what to do when it cannot."""
    name = user or os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name
    if name == "root":
        raise ConfigError("the kiosk must not run as root: give --service-user NAME "
                          "(a user in the audio group)")
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        raise ConfigError(f"no user {name!r}: create it first (sudo useradd -m -G audio "
                          f"{name}) or give --service-user") from None
    exe = executable or shutil.which("voicebot") or os.path.join(sys.prefix, "bin", "voicebot")
    config = os.path.abspath(config_path) if config_path else DEFAULT_CONFIG
    text = render_unit(UnitOptions(executable=os.path.abspath(exe), config_path=config,
                                   user=name, uid=uid))
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({exc.strerror}); run it with sudo") from None
    return path

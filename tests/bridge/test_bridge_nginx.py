"""Scale-out, tested as shipped: Debian's nginx with deploy/nginx/voicebot-bridge.conf
in front of two `voicebot bridge` processes on loopback. 20 sessions spread over
both; one process gets SIGTERM mid-conversation: it finishes the replies under way,
closes its sessions with 1001, and exits 0; its clients reconnect through nginx to
the other, say again what was not answered, and every utterance ends answered or
reported as an error, none silently lost."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bridgeproc import start_bridge
from e2e.replyserver import ReplyServer
from speech import synth
from websockets.asyncio.client import connect
from wsclient import BridgeClient, pcm16

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
VOICEBOT = str(Path(sys.executable).with_name("voicebot"))
SESSIONS = 20
UTTERANCES = 3

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian's nginx is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bridge(base_url: str, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "VOICEBOT_API_KEY": "", "OPENAI_API_KEY": ""}
    proc, bound = start_bridge([VOICEBOT, "bridge", "--port", str(port), "--base-url",
                                base_url, "--model", "test", "-v"], env)
    assert bound == port
    return proc


def nginx_config(tmp: Path, listen: int, ports: list[int]) -> Path:
    """The shipped site config, its ports replaced, inside a minimal nginx.conf."""
    site = (ROOT / "deploy" / "nginx" / "voicebot-bridge.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in ports)
    site = re.sub(r"(upstream voicebot_bridge \{\n)(?:    server .*\n)+", rf"\g<1>{servers}", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
""")
    return conf


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[dict[str, Any]]:
    reply = pcm16(synth("Two plus three is five.", 24_000))
    with ReplyServer(reply, "Two plus three is five.", piece_delay_s=0.005) as upstream:
        ports = [free_port(), free_port()]
        bridges = [bridge(upstream.base_url, p) for p in ports]
        listen = free_port()
        conf = nginx_config(tmp_path, listen, ports)
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)],
                                 stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{listen}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and nginx.poll() is None, "nginx did not start"
                time.sleep(0.05)
            yield {"listen": listen, "ports": ports, "bridges": bridges, "upstream": upstream}
        finally:
            nginx.terminate()
            nginx.wait(10)
            for b in bridges:
                if b.poll() is None:
                    b.terminate()
                b.wait(40)


async def session(listen: int, question: Any, log: dict[str, int]) -> None:
    """Ask UTTERANCES questions; after a 1001, reconnect and ask again what was lost."""
    remaining = UTTERANCES
    while remaining:
        async with connect(f"ws://127.0.0.1:{listen}/ws") as ws:
            c = BridgeClient(ws)
            await c.hello()
            tasks = [asyncio.create_task(t()) for t in (c.receiver, c.reporter, c.microphone)]
            try:
                while remaining:
                    mark = len(c.records)
                    c.say(question)
                    log["said"] += 1
                    try:
                        done = await c.wait_for("turn.done", after=mark, timeout=60)
                    except AssertionError:
                        if c.close_code == 1001:
                            log["going_away"] += 1
                            if any(r["type"] == "utterance" for r in c.records[mark:]):
                                log["lost_after_start"] += 1  # must never happen
                            break  # reconnect through nginx, say it again
                        errors = [r for r in c.records[mark:] if r["type"] == "error"]
                        if errors:
                            log["errors"] += 1
                            remaining -= 1
                            continue
                        raise
                    assert done["audio_bytes"] > 0
                    log["answered"] += 1
                    remaining -= 1
                    await asyncio.sleep(0.3)
                else:
                    await c.send_json(type="bye")
                    await c.wait_closed()
            finally:
                for task in tasks:
                    task.cancel()


def test_sigterm_drains_one_of_two_bridges_behind_nginx(deployment: dict[str, Any]) -> None:
    question = synth("what is two plus three", 16_000)
    log = {"said": 0, "answered": 0, "errors": 0, "going_away": 0, "lost_after_start": 0}
    victim = deployment["bridges"][0]
    listen = deployment["listen"]

    async def main() -> list[int]:
        clients = []
        for _ in range(SESSIONS):
            clients.append(asyncio.create_task(session(listen, question, log)))
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        async with httpx.AsyncClient() as http:
            spread = [(await http.get(f"http://127.0.0.1:{p}/stats")).json()["sessions"]
                      for p in deployment["ports"]]
        victim.send_signal(signal.SIGTERM)  # mid-conversation
        await asyncio.gather(*clients)
        return spread

    spread = asyncio.run(main())
    assert sum(spread) == SESSIONS and min(spread) > 0, spread  # both bridges took sessions
    assert victim.wait(45) == 0  # drained and exited cleanly
    assert log["going_away"] == spread[0]  # each of its sessions was told to go elsewhere
    assert log["lost_after_start"] == 0
    assert log["answered"] + log["errors"] == SESSIONS * UTTERANCES, log
    assert deployment["bridges"][1].poll() is None  # the other one goes on

"""`voicebot bridge` as a user runs it: it refuses to listen beyond loopback without a
token (one line), and the token never appears in its log or in any event."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bridgeproc import start_bridge
from websockets.asyncio.client import connect
from wsclient import BridgeClient

VOICEBOT = str(Path(sys.executable).with_name("voicebot"))
TOKEN = "tok-9f8e7d6c5b4a"


def test_refuses_a_public_address_without_a_token() -> None:
    env = {**os.environ, "VOICEBOT_BRIDGE_TOKEN": ""}
    out = subprocess.run([VOICEBOT, "bridge", "--host", "0.0.0.0"], capture_output=True,
                         text=True, timeout=30, env=env)
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert "refusing to listen on 0.0.0.0 without a token" in line


def test_the_token_stays_secret(upstream: Any) -> None:
    env = {**os.environ, "VOICEBOT_BRIDGE_TOKEN": TOKEN, "VOICEBOT_API_KEY": "",
           "OPENAI_API_KEY": ""}
    proc, port = start_bridge([VOICEBOT, "bridge", "--port", "0", "--base-url",
                               upstream.base_url, "--model", "test", "-vv"], env)

    async def main() -> list[dict[str, Any]]:
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send(json.dumps({"type": "hello", "sample_rate": 16000,
                                      "token": TOKEN + "x"}))
            await asyncio.wait_for(ws.wait_closed(), 10)
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            client = BridgeClient(ws, report=False)
            await client.hello(token=TOKEN)
            receiver = asyncio.create_task(client.receiver())
            await client.send_json(type="text", text=f"my token is {TOKEN}")
            await client.send_json(type=TOKEN)
            await client.wait_for("turn.done")
            await client.send_json(type="bye")
            await client.wait_closed()
            receiver.cancel()
            return client.records

    try:
        records = asyncio.run(main())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    log = "".join(proc.log)  # type: ignore[attr-defined]
    said = json.dumps(records)
    assert TOKEN not in said and TOKEN not in log
    assert "my token is ***" in said  # the user's words, the secret masked
    assert "session" in log and "closed 1000" in log  # -vv did log the sessions

"""The session: conversation history, the HTTP edge, tools and the turn loop.

Pure cores: :mod:`.conversation` (history → ``messages``), :mod:`.retry` (when and
how long to wait), :mod:`.calc` (safe arithmetic). :mod:`.tools` (schemas and dispatch)
and :mod:`.builtin_tools` run tools on the event loop. I/O edges: :mod:`.client` (httpx)
and :mod:`.turn` (wires them together).

Nothing is re-exported here: importing a pure core must not load httpx or asyncio.
Import from the modules.
"""

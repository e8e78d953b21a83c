"""What the assistants can do, as pure cores shared by the client's tools and the local
server's assistant: arithmetic (:mod:`.calc`) and timers (:mod:`.timers`).

This ``__init__`` imports nothing, so importing a core stays free of I/O libraries.
"""

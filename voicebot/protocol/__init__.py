"""Sans-I/O cores of the chat-completions wire format.

Nothing here opens a socket or reads a clock: bytes go in, events come out.
"""

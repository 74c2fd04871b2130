"""Camera processes talk to the core over a multiprocessing pipe; this moves their messages onto the event loop."""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection
from typing import Any


def drain_pipe(conn: Connection, inbox: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Reader callback (``loop.add_reader(fd, drain_pipe, ...)``): move every complete message from the child
    process into ``inbox``; at the pipe's end stop reading and put None, so the reader knows the child is gone."""
    try:
        while conn.poll():
            inbox.put_nowait(conn.recv())
    except (EOFError, OSError):
        loop.remove_reader(fd)
        inbox.put_nowait(None)

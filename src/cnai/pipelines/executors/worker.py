"""A warm worker: a long-lived process that runs step attempts sent by :mod:`.local`.

Protocol on stdin/stdout: 4-byte big-endian length + pickle, one request then one reply. The
process's own file descriptor 1 is pointed at stderr first, so a ``print`` in a step can never
corrupt the channel. A ``("load", task)`` message imports the pipeline file ahead of the first
step, while the parent is still planning; that import is what a process per step pays every time.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import IO, Any, BinaryIO

from cnai.pipelines import execute

HEADER = struct.Struct(">I")


def read_message(stream: BinaryIO) -> Any:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def write_message(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def main() -> None:
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    channel_in = sys.stdin.buffer
    while True:
        message = read_message(channel_in)
        if message is None:
            return
        kind, task = message
        if kind == "load":
            try:
                execute.load_step(task)
            except Exception:  # reported when a real task runs the same code
                pass
            continue
        write_message(channel_out, execute.execute(task))


if __name__ == "__main__":
    main()

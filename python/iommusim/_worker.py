"""The child process that holds one platform (python -m iommusim._worker).

Protocol on the inherited pipe fds given in argv: length-prefixed pickles.
Requests are ``(function_name, args, kwargs)`` for a function of the
_iommusim extension; replies are ``("ok", value)`` or ``("err", exception)``.
The process's own stdout is redirected to stderr so that nothing the
simulator prints can corrupt the channel.
"""
from __future__ import annotations

import os
import pickle
import struct
import sys


def _read_exact(f, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = f.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def main() -> int:
    rfd, wfd = int(sys.argv[1]), int(sys.argv[2])
    rx = os.fdopen(rfd, "rb", buffering=0)
    tx = os.fdopen(wfd, "wb", buffering=0)
    os.dup2(2, 1)  # stray prints go to stderr, never into the channel
    os.environ.setdefault("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1")
    from . import _iommusim  # noqa: PLC0415 - only in the child

    while True:
        try:
            (n,) = struct.unpack("<Q", _read_exact(rx, 8))
            name, args, kwargs = pickle.loads(_read_exact(rx, n))
        except EOFError:
            break
        if name == "__exit__":
            try:
                _iommusim.shutdown()
            finally:
                tx.write(struct.pack("<Q", 0))
            break
        try:
            reply = ("ok", getattr(_iommusim, name)(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - every error goes back to the caller
            reply = ("err", e)
        try:
            data = pickle.dumps(reply)
        except Exception as e:  # noqa: BLE001
            data = pickle.dumps(("err", RuntimeError(f"unpicklable reply to {name}: {e}")))
        tx.write(struct.pack("<Q", len(data)) + data)
    # Leave without running SystemC's static destructors under a live simulation thread.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

"""Client side of _worker.py: one child process, calls forwarded to it."""
from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import Any


def _package_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Child:
    """A child Python process running iommusim._worker; call() forwards."""

    def __init__(self) -> None:
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = _package_parent() + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "iommusim._worker", str(p2c_r), str(c2p_w)],
            pass_fds=(p2c_r, c2p_w),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        os.close(p2c_r)
        os.close(c2p_w)
        self._tx = os.fdopen(p2c_w, "wb", buffering=0)
        self._rx = os.fdopen(c2p_r, "rb", buffering=0)
        self._lock = threading.Lock()
        self.closed = False

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._rx.read(n - len(data))
            if not chunk:
                code = self._proc.wait()
                raise RuntimeError(f"the simulation process died (exit status {code})")
            data += chunk
        return data

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run _iommusim.<name>(*args, **kwargs) in the child; re-raise its error."""
        if self.closed:
            raise RuntimeError("this platform is closed")
        data = pickle.dumps((name, args, kwargs))
        with self._lock:
            self._tx.write(struct.pack("<Q", len(data)) + data)
            (n,) = struct.unpack("<Q", self._read_exact(8))
            status, value = pickle.loads(self._read_exact(n))
        if status == "err":
            raise value
        return value

    def close(self) -> None:
        """Shut the platform down (writing its outputs) and end the child."""
        if self.closed:
            return
        self.closed = True
        try:
            data = pickle.dumps(("__exit__", (), {}))
            self._tx.write(struct.pack("<Q", len(data)) + data)
            self._read_exact(8)
        except (OSError, RuntimeError):
            pass
        finally:
            self._tx.close()
            self._rx.close()
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

"""Reading and writing DMA traces in Python (traces/FORMAT.md, v1).

Records are :class:`Record` tuples, or a numpy structured array
(:data:`DTYPE`) for large traces. Every form reads and writes: text, binary,
either zstd-compressed (python3-zstandard). Generating traces goes through
the CLI's generators (:func:`generate`).
"""
from __future__ import annotations

import os
import struct
from typing import Iterable, List, NamedTuple, Optional, Union

import numpy as np

from .run import RunError, cli_path, run_cli

MAGIC = b"IOMMUTRC"
VERSION = 1
TEXT_HEADER = "# iommusim-trace v1"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DTYPE = np.dtype([("gap", "<u8"), ("addr", "<u8"), ("stream_id", "<u4"), ("pasid", "<u4"),
                  ("size", "<u4"), ("flags", "u1"), ("reserved", "V3")])
F_WRITE, F_ATS, F_PRI, F_PASID = 1, 2, 4, 8

PathLike = Union[str, "os.PathLike[str]"]


class TraceError(ValueError):
    """A bad trace: 'FILE:LINE: reason' (LINE is the record number in binary files)."""


class Record(NamedTuple):
    """One DMA request."""

    gap: int
    stream_id: int
    pasid: Optional[int]
    addr: int
    size: int
    write: bool
    ats: bool = False
    pri: bool = False

    def text(self) -> str:
        """The canonical text line."""
        pasid = "-" if self.pasid is None else str(self.pasid)
        s = f"{self.gap} {self.stream_id:#x} {pasid} {self.addr:#x} {self.size} {'W' if self.write else 'R'}"
        return s + (" ats" if self.ats else "") + (" pri" if self.pri else "")


def _check(r: Record, where: str) -> None:
    if not 1 <= r.size <= 4096:
        raise TraceError(f"{where}: size {r.size} is not in 1..4096")
    if (r.addr & 4095) + r.size > 4096:
        raise TraceError(f"{where}: access [{r.addr:#x}, +{r.size}) crosses a 4 KiB boundary")
    if r.pasid is not None and r.pasid >= 1 << 20:
        raise TraceError(f"{where}: pasid {r.pasid} does not fit in 20 bits")


def _num(tok: str) -> int:
    if tok.startswith(("-", "+")) or "_" in tok:
        raise ValueError(tok)
    return int(tok, 16) if tok[:2].lower() == "0x" else int(tok, 10)


def parse_text(text: str, source: str = "<text>") -> List[Record]:
    """Parse the text form."""
    out: List[Record] = []
    for n, line in enumerate(text.splitlines(), 1):
        if n == 1 and line.startswith("# iommusim-trace v"):
            v = line[len("# iommusim-trace v"):].strip()
            if v != str(VERSION):
                raise TraceError(f"{source}:{n}: unsupported trace version {v} (this reads v{VERSION})")
            continue
        tok = line.split("#", 1)[0].split()
        if not tok:
            continue
        if len(tok) < 6:
            raise TraceError(f"{source}:{n}: expected '<gap_cycles> <stream_id> <pasid|-> <addr> <size> <R|W> [ats] [pri]', "
                             f"got {len(tok)} fields")
        try:
            gap, sid, addr, size = _num(tok[0]), _num(tok[1]), _num(tok[3]), _num(tok[4])
            pasid = None if tok[2] == "-" else _num(tok[2])
        except ValueError as e:
            raise TraceError(f"{source}:{n}: bad number '{e}'") from None
        if tok[5] not in ("R", "r", "W", "w"):
            raise TraceError(f"{source}:{n}: direction must be R or W, got '{tok[5]}'")
        flags = tok[6:]
        for f in flags:
            if f not in ("ats", "pri"):
                raise TraceError(f"{source}:{n}: unknown flag '{f}' (expected ats or pri)")
            if flags.count(f) > 1:
                raise TraceError(f"{source}:{n}: flag '{f}' given twice")
        r = Record(gap, sid, pasid, addr, size, tok[5] in ("W", "w"), "ats" in flags, "pri" in flags)
        _check(r, f"{source}:{n}")
        out.append(r)
    return out


def to_array(records: Iterable[Record]) -> np.ndarray:
    """Records as a numpy structured array of :data:`DTYPE`."""
    recs = list(records)
    a = np.zeros(len(recs), dtype=DTYPE)
    for i, r in enumerate(recs):
        a[i] = (r.gap, r.addr, r.stream_id, r.pasid or 0, r.size,
                (F_WRITE if r.write else 0) | (F_ATS if r.ats else 0) | (F_PRI if r.pri else 0)
                | (F_PASID if r.pasid is not None else 0), b"\0\0\0")
    return a


def from_array(a: np.ndarray) -> List[Record]:
    """The records of a :data:`DTYPE` array."""
    return [Record(int(x["gap"]), int(x["stream_id"]), int(x["pasid"]) if x["flags"] & F_PASID else None,
                   int(x["addr"]), int(x["size"]), bool(x["flags"] & F_WRITE), bool(x["flags"] & F_ATS),
                   bool(x["flags"] & F_PRI)) for x in a]


def encode(records: Iterable[Record], form: str = "binary") -> bytes:
    """The bytes of one form: 'text' or 'binary' (uncompressed)."""
    recs = list(records)
    if form == "text":
        return ("\n".join([TEXT_HEADER] + [r.text() for r in recs]) + "\n").encode()
    if form != "binary":
        raise ValueError(f"form must be 'text' or 'binary', not {form!r}")
    hdr = MAGIC + struct.pack("<HHIQII", VERSION, 32, 0, len(recs), 32, 0)
    return hdr + to_array(recs).tobytes()


def decode(data: bytes, source: str = "<bytes>") -> List[Record]:
    """Records from the bytes of any form (zstd detected by its magic)."""
    if data[:4] == ZSTD_MAGIC:
        import zstandard

        try:
            data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        except zstandard.ZstdError as e:
            raise TraceError(f"{source}:0: zstd: {e}") from None
    if data[:8] != MAGIC:
        return parse_text(data.decode("utf-8", errors="replace"), source)
    if len(data) < 32:
        raise TraceError(f"{source}:0: truncated header ({len(data)} bytes, need 32)")
    ver, hdr, flags, count, rec, _ = struct.unpack_from("<HHIQII", data, 8)
    if ver != VERSION:
        raise TraceError(f"{source}:0: unsupported trace version {ver} (this reads v{VERSION})")
    if hdr != 32 or rec != 32 or flags != 0:
        raise TraceError(f"{source}:0: bad header (header size {hdr}, record size {rec}, flags {flags})")
    body = len(data) - 32
    if body % 32 or body // 32 != count:
        raise TraceError(f"{source}:0: header says {count} records but the file holds {body // 32}"
                         + (" and a partial one" if body % 32 else ""))
    recs = from_array(np.frombuffer(data, dtype=DTYPE, offset=32, count=count))
    for i, r in enumerate(recs, 1):
        _check(r, f"{source}:{i}")
    return recs


def read(path: PathLike) -> List[Record]:
    """Read a trace file in any form."""
    with open(path, "rb") as f:
        return decode(f.read(), os.fspath(path))


def write(path: PathLike, records: Iterable[Record], form: Optional[str] = None, zstd: Optional[bool] = None,
          level: int = 9) -> None:
    """Write records; form and compression follow the name (.trace/.itrc, .zst) unless given."""
    p = os.fspath(path)
    base = p[:-4] if p.endswith(".zst") else p
    if zstd is None:
        zstd = p.endswith(".zst")
    if form is None:
        if base.endswith((".trace", ".txt")):
            form = "text"
        elif base.endswith((".itrc", ".bin")):
            form = "binary"
        else:
            raise ValueError(f"{p}: cannot tell the form from the name (use .trace, .itrc, optionally .zst)")
    data = encode(records, form)
    if zstd:
        import zstandard

        data = zstandard.ZstdCompressor(level=level).compress(data)
    with open(p, "wb") as f:
        f.write(data)


def generate(kind: str, path: PathLike, **params: object) -> int:
    """Write a trace from a generator (`iommusim trace generate`); returns the record count."""
    args = ["trace", "generate", kind, "-o", os.fspath(path)]
    for k, v in params.items():
        args += ["--set", f"{k}={v}"]
    return int(run_cli(args + ["--json"])["records"])


def summarize(path: PathLike) -> dict:
    """`iommusim trace summarize --json` of a file."""
    return run_cli(["trace", "summarize", os.fspath(path), "--json"])


__all__ = ["DTYPE", "Record", "TraceError", "decode", "encode", "from_array", "generate", "read", "summarize",
           "to_array", "write", "cli_path", "RunError"]

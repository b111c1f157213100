#!/usr/bin/python3
"""ABI check: iommusim's uAPI headers against Linux 6.12's own.

  --set iommufd (ctest abi.iommufd_uapi, the default):
    iommufd_api/include/iommusim/iommufd.h       vs  include/uapi/linux/iommufd.h
    iommufd_api/include/iommusim/iommufd_test.h  vs  drivers/iommu/iommufd/iommufd_test.h
  --set vfio (ctest abi.vfio_uapi):
    iommufd_api/include/iommusim/vfio.h          vs  include/uapi/linux/vfio.h

The list of things to compare is generated from the KERNEL headers (a small
parser of their struct/union/enum/#define syntax), never kept by hand:
  - every struct/union: sizeof and alignment;
  - every field, nested and anonymous members included: offsetof, sizeof, and
    signedness for scalar fields;
  - every tagged enum's size, every enum constant's value;
  - every object-like #define (the ioctl request numbers among them; string
    macros are compared as strings);
  - a flexible array member (data[]) has no size: only its offset is compared.
One C program is generated from that list and compiled twice with the system
cc: once against the kernel headers, once against ours. Each prints one
"key<TAB>value" line per item; the two outputs are compared. A name missing
from our headers makes its line fail to compile: the script reads cc's
errors, reports those items as missing, drops their lines and compiles again.

iommusim's headers also carry what later kernels added and Debian's 6.12
selftest uses; those are checked against fixed values (EXTRAS below).

Usage (ctest runs it as abi.iommufd_uapi and abi.vfio_uapi):
  /usr/bin/python3 tb/conformance/abi_check.py --work-dir BUILD/tb/conformance \
      [--set iommufd|vfio] [--include iommufd_api/include] \
      [--tarball /usr/src/linux-source-6.12.tar.xz]
Exit: 0 all equal, 1 a mismatch or an error, 77 kernel source unavailable (skip).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linux_source  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ParseError(Exception):
    pass


# ---------------------------------------------------------------- C header parser

_TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w*)|(0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)|('(?:\\.|[^'])')|"
                    r"(<<|>>|[{}()\[\];,=:*+\-~|&<>/]))")


def _strip_comments(text):
    """Comments become blanks (newlines kept, so line numbers stay right)."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r"/\*.*?\*/|//[^\n]*", blank, text, flags=re.S)


class Header:
    """What a uAPI header declares: aggregates with their member paths, enums, macros."""

    def __init__(self, path):
        self.path = path
        self.structs = []   # (kind, tag, [Field]) in file order
        self.enums = []     # (tag or None, [constant names])
        self.macros = []    # object-like #define names with a body
        self.string_macros = set()  # those whose body is a string literal
        self._parse(open(path).read())

    # --- preprocessor lines are taken out first; the rest is tokenized
    def _parse(self, text):
        text = _strip_comments(text).replace("\\\n", "  ")
        code_lines = []
        for lineno, line in enumerate(text.split("\n"), 1):
            s = line.strip()
            if s.startswith("#"):
                m = re.match(r"#\s*define\s+([A-Za-z_]\w*)(\(?)\s*(.*)$", s)
                if m and not m.group(2) and m.group(3).strip():
                    self.macros.append(m.group(1))
                    if m.group(3).strip().startswith('"'):
                        self.string_macros.add(m.group(1))
                code_lines.append("")
            else:
                code_lines.append(line)
        self.toks = []
        for lineno, line in enumerate(code_lines, 1):
            pos = 0
            while pos < len(line):
                if not line[pos:].strip():
                    break
                m = _TOKEN.match(line, pos)
                if not m:
                    raise ParseError(f"{self.path}:{lineno}: cannot tokenize {line[pos:].strip()!r}")
                self.toks.append((m.group(m.lastindex), lineno))
                pos = m.end()
        self.i = 0
        while self.i < len(self.toks):
            self._top_level()

    def _peek(self, k=0):
        j = self.i + k
        return self.toks[j][0] if j < len(self.toks) else None

    def _next(self):
        if self.i >= len(self.toks):
            raise ParseError(f"{self.path}: unexpected end of file")
        t = self.toks[self.i]
        self.i += 1
        return t[0]

    def _where(self):
        j = min(self.i, len(self.toks) - 1)
        return f"{self.path}:{self.toks[j][1]}"

    def _expect(self, tok):
        got = self._next()
        if got != tok:
            self.i -= 1
            raise ParseError(f"{self._where()}: expected {tok!r}, found {got!r}")

    def _top_level(self):
        kw = self._peek()
        if kw == "enum":
            self._enum()
        elif kw in ("struct", "union"):
            self._next()
            tag = self._next()
            if self._peek() == ";":      # forward declaration
                self._next()
                return
            fields = self._body(kind=kw)
            self._expect(";")
            self.structs.append((kw, tag, fields))
        else:
            raise ParseError(f"{self._where()}: unsupported top-level construct starting at {kw!r} "
                             "(this parser knows enum, struct and union declarations)")

    def _enum(self):
        self._expect("enum")
        tag = None
        if self._peek() != "{":
            tag = self._next()
        self._expect("{")
        names = []
        while self._peek() != "}":
            name = self._next()
            if not re.match(r"[A-Za-z_]\w*$", name):
                raise ParseError(f"{self._where()}: expected an enumerator name, found {name!r}")
            names.append(name)
            depth = 0
            while True:                  # skip "= expr" up to the comma or the brace
                t = self._peek()
                if t is None:
                    raise ParseError(f"{self.path}: enum {tag or '(anonymous)'} is not closed")
                if depth == 0 and t in (",", "}"):
                    break
                depth += {"(": 1, ")": -1}.get(t, 0)
                self._next()
            if self._peek() == ",":
                self._next()
        self._expect("}")
        self._expect(";")
        self.enums.append((tag, names))

    def _body(self, kind):
        """Members between braces -> list of Field (path relative to this aggregate)."""
        self._expect("{")
        fields = []
        while self._peek() != "}":
            if self._peek() is None:
                raise ParseError(f"{self.path}: {kind} body is not closed")
            fields.extend(self._member())
        self._expect("}")
        return fields

    def _member(self):
        if self._peek() in ("struct", "union") and (self._peek(1) == "{" or self._peek(2) == "{"):
            kind = self._next()
            if self._peek() != "{":
                self._next()             # a tag on a nested aggregate: not needed
            inner = self._body(kind)
            if self._peek() == ";":      # anonymous: its members belong to the parent
                self._next()
                return inner
            name = self._next()
            arrays, flexible = self._array_suffix()
            self._expect(";")
            out = [Field(name, aggregate=True, array=arrays, flexible=flexible)]
            if not arrays:
                out += [Field(f"{name}.{f.path}", f.aggregate, f.array, f.pointer) for f in inner]
            return out
        type_toks = []
        while True:
            t = self._next()
            if t in (";", "[", ":", ",", "}", "{"):
                raise ParseError(f"{self._where()}: cannot read a member declaration near {t!r}")
            type_toks.append(t)
            if self._peek() in (";", "[", ",", ":"):
                break
        out = []
        while True:
            pointer = "*" in type_toks
            name = type_toks[-1]
            if not re.match(r"[A-Za-z_]\w*$", name):
                raise ParseError(f"{self._where()}: expected a member name, found {name!r}")
            if self._peek() == ":":
                raise ParseError(f"{self._where()}: bit-field {name!r}: offsetof cannot check it")
            arrays, flexible = self._array_suffix()
            aggregate = type_toks[0] in ("struct", "union")
            out.append(Field(name, aggregate, arrays, pointer, flexible))
            if self._peek() == ",":
                self._next()
                base = [t for t in type_toks[:-1] if t != "*"]
                type_toks = base + [self._next()]
                while self._peek() not in (";", "[", ",", ":"):
                    type_toks.append(self._next())
                continue
            break
        self._expect(";")
        return out

    def _array_suffix(self):
        """(number of dimensions, True for a flexible array member "[]")."""
        n, flexible = 0, False
        while self._peek() == "[":
            self._next()
            if n == 0 and self._peek() == "]":
                flexible = True
            while self._next() != "]":
                pass
            n += 1
        return n, flexible


class Field:
    def __init__(self, path, aggregate=False, array=0, pointer=False, flexible=False):
        self.path, self.aggregate, self.array, self.pointer = path, aggregate, array, pointer
        self.flexible = flexible  # "name[]": sizeof does not apply

    @property
    def scalar(self):
        return not (self.aggregate or self.array or self.pointer)


# ---------------------------------------------------------------- the generated program

# Items iommusim's headers carry beyond 6.12's (later kernels; Debian's 6.12 selftest
# uses them): key, C expression, and how the expected value is found.
EXTRAS = [
    ("struct iommu_hw_info.in_data_type: offsetof",
     "offsetof(struct iommu_hw_info, in_data_type)",
     ("kernel", "struct iommu_hw_info.out_data_type: offsetof")),
    ("struct iommu_hw_info.in_data_type: sizeof",
     "sizeof(((struct iommu_hw_info *)0)->in_data_type)",
     ("kernel", "struct iommu_hw_info.out_data_type: sizeof")),
    ("IOMMU_HW_INFO_FLAG_INPUT_TYPE: value", "IOMMU_HW_INFO_FLAG_INPUT_TYPE", ("const", 1)),
    ("IOMMU_HW_INFO_TYPE_DEFAULT: value", "IOMMU_HW_INFO_TYPE_DEFAULT", ("const", 0)),
    ("MOCK_FLAGS_DEVICE_PASID: value", "MOCK_FLAGS_DEVICE_PASID", ("const", 1 << 2)),
    ("MOCK_PASID_WIDTH: value", "MOCK_PASID_WIDTH", ("const", 20)),
    # The SMMUv3 GET_HW_INFO type and layout of Linux 6.14+.
    ("IOMMU_HW_INFO_TYPE_ARM_SMMUV3: value", "IOMMU_HW_INFO_TYPE_ARM_SMMUV3", ("const", 2)),
    ("struct iommu_hw_info_arm_smmuv3: sizeof", "sizeof(struct iommu_hw_info_arm_smmuv3)", ("const", 40)),
    ("struct iommu_hw_info_arm_smmuv3.idr: offsetof",
     "offsetof(struct iommu_hw_info_arm_smmuv3, idr)", ("const", 8)),
    ("struct iommu_hw_info_arm_smmuv3.iidr: offsetof",
     "offsetof(struct iommu_hw_info_arm_smmuv3, iidr)", ("const", 32)),
    ("struct iommu_hw_info_arm_smmuv3.aidr: offsetof",
     "offsetof(struct iommu_hw_info_arm_smmuv3, aidr)", ("const", 36)),
]


def items_from(headers):
    """[(key, C expression)] for everything the kernel headers declare."""
    items, seen = [], set()

    def add(key, expr):
        if key not in seen:
            seen.add(key)
            items.append((key, expr))

    for h in headers:
        guard = None
        for kind, tag, fields in h.structs:
            t = f"{kind} {tag}"
            add(f"{t}: sizeof", f"sizeof({t})")
            add(f"{t}: alignof", f"_Alignof({t})")
            for f in fields:
                member = f"((({t} *)0)->{f.path})"
                add(f"{t}.{f.path}: offsetof", f"offsetof({t}, {f.path})")
                if not f.flexible:
                    add(f"{t}.{f.path}: sizeof", f"sizeof{member}")
                if f.scalar:
                    add(f"{t}.{f.path}: signed", f"((__typeof__{member})-1 < 0)")
        for tag, names in h.enums:
            if tag:
                add(f"enum {tag}: sizeof", f"sizeof(enum {tag})")
            for n in names:
                add(f"{n}: value", f"({n})")
        for name in h.macros:
            if guard is None and name.startswith("_UAPI_"):
                guard = name                       # include guards have no body; belt and braces
                continue
            if name in h.string_macros:
                add(f"{name}: string", f"({name})")
            else:
                add(f"{name}: value", f"({name})")
    return items


def write_program(work, items, extras):
    """checks.inc has one item a line (so a cc error's line number names the item)."""
    lines = ["/* generated by tb/conformance/abi_check.py: one item a line */"]
    index = {}
    for key, expr in items:
        index[len(lines) + 1] = key
        printer = "PSTR" if key.endswith(": string") else "P"
        lines.append(f'{printer}("{key}", {expr});')
    lines.append("#ifdef IOMMUSIM_SIDE_OURS")
    for key, expr, _ in extras:
        index[len(lines) + 1] = key
        lines.append(f'P("{key}", {expr});')
    lines.append("#endif")
    with open(os.path.join(work, "checks.inc"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return index, lines


MAIN = """\
#include <stddef.h>
#include <stdio.h>
{includes}
#define P(key, v) printf("%s\\t%lld\\n", key, (long long)(v))
#define PSTR(key, v) printf("%s\\t\\"%s\\"\\n", key, (const char *)(v))
int main(void)
{{
#include "checks.inc"
\treturn 0;
}}
"""


def compile_and_run(work, side, includes, cflags, index, lines, may_drop):
    """Build and run one side. Returns ({key: value}, {key: cc error}) ."""
    src = os.path.join(work, f"abi_{side}.c")
    exe = os.path.join(work, f"abi_{side}")
    with open(src, "w") as f:
        f.write(MAIN.format(includes="\n".join(f"#include {i}" for i in includes)))
    cc = os.environ.get("CC") or shutil.which("cc") or "cc"
    dropped = {}
    for _ in range(6):
        cmd = [cc, "-std=gnu11", "-O0", "-fmax-errors=0", "-ftrack-macro-expansion=0", *cflags, "-I", work, src, "-o", exe]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, LC_ALL="C"))
        if r.returncode == 0:
            break
        bad = {}
        for m in re.finditer(r"checks\.inc:(\d+):\d+: error: (.*)", r.stdout):
            ln = int(m.group(1))
            if ln in index:
                bad.setdefault(ln, m.group(2))
        if not may_drop or not bad:
            raise RuntimeError(f"{side}: the generated program does not compile:\n$ {' '.join(cmd)}\n"
                               + r.stdout)
        for ln, err in bad.items():
            dropped[index[ln]] = err
            lines[ln - 1] = "/* dropped: does not compile against this side */"
        with open(os.path.join(work, "checks.inc"), "w") as f:
            f.write("\n".join(lines) + "\n")
    else:
        raise RuntimeError(f"{side}: still does not compile after dropping the failing items")
    r = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{side}: {exe} exited {r.returncode}: {r.stderr}")
    values = {}
    for line in r.stdout.splitlines():
        key, _, val = line.rpartition("\t")
        values[key] = val if val.startswith('"') else int(val)
    return values, dropped


def fmt(v):
    if v is None or isinstance(v, str):
        return "-" if v is None else v
    return f"{v} (0x{v & 0xffffffffffffffff:x})" if abs(v) > 9 else str(v)


# What each --set compares. kernel: (path in the kernel tree, where it is staged under
# the kernel include folder) in include order; ours: our headers under iommusim/.
# cflags_kernel: the raw (not headers_install'ed) uAPI header still says __user.
SETS = {
    "iommufd": {
        "kernel": [(linux_source.UAPI_IOMMUFD_H, "linux/iommufd.h", "<linux/iommufd.h>"),
                   (linux_source.IOMMUFD_TEST_H, "iommufd_test.h", '"iommufd_test.h"')],
        "ours": ["iommufd.h", "iommufd_test.h"],
        "extras": EXTRAS,
        "cflags_kernel": [],
    },
    "vfio": {
        "kernel": [(linux_source.UAPI_VFIO_H, "linux/vfio.h", "<linux/vfio.h>")],
        "ours": ["vfio.h"],
        "extras": [],
        "cflags_kernel": ["-D__user="],
    },
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work-dir", required=True, help="scratch folder in the build tree")
    ap.add_argument("--set", choices=sorted(SETS), default="iommufd",
                    help="which headers to compare (default iommufd)")
    ap.add_argument("--include", default=os.path.join(REPO, "iommufd_api", "include"),
                    help="folder holding iommusim/<our headers>")
    ap.add_argument("--tarball", default=None, help=f"default {linux_source.DEFAULT_TARBALL}")
    args = ap.parse_args()
    conf = SETS[args.set]
    extras = conf["extras"]

    for h in conf["ours"]:
        p = os.path.join(args.include, "iommusim", h)
        if not os.path.isfile(p):
            print(f"ERROR: {p}: not found (--include names the folder that holds iommusim/)")
            return 1

    ksrc = linux_source.extract_or_exit(args.work_dir, args.tarball)
    # One folder per set: ctest may run both sets at once.
    work = os.path.join(args.work_dir, "abi" if args.set == "iommufd" else f"abi_{args.set}")
    if os.path.isdir(work):
        shutil.rmtree(work)
    kinc = os.path.join(work, "kernel_include")
    os.makedirs(os.path.join(kinc, "linux"))
    # Stage every kernel header (the test header includes <linux/iommufd.h>) so that
    # the system's (older) linux-libc-dev copy is never picked up by mistake.
    for rel, staged, _ in conf["kernel"]:
        shutil.copy(os.path.join(ksrc, rel), os.path.join(kinc, staged))

    try:
        kernel_headers = [Header(os.path.join(ksrc, rel)) for rel, _, _ in conf["kernel"]]
    except ParseError as e:
        print(f"ERROR: parsing the kernel header: {e}")
        return 1
    # Sanity of the parser: every "struct NAME {" / "enum ... {" the file shows was read.
    for h in kernel_headers:
        text = _strip_comments(open(h.path).read())
        n_struct = len(re.findall(r"^(?:struct|union)\s+\w+\s*\{", text, flags=re.M))
        n_enum = len(re.findall(r"^enum\b[^;{]*\{", text, flags=re.M))
        if n_struct != len(h.structs) or n_enum != len(h.enums):
            print(f"ERROR: {h.path}: parser read {len(h.structs)} structs/{len(h.enums)} enums, "
                  f"the text has {n_struct}/{n_enum}")
            return 1

    items = items_from(kernel_headers)
    index, lines = write_program(work, items, extras)
    try:
        kvals, _ = compile_and_run(work, "kernel", [inc for _, _, inc in conf["kernel"]],
                                   ["-I", kinc, *conf["cflags_kernel"]], index, list(lines),
                                   may_drop=False)
        ovals, missing = compile_and_run(work, "ours", [f"<iommusim/{h}>" for h in conf["ours"]],
                                         ["-I", args.include, "-DIOMMUSIM_SIDE_OURS"], index, lines,
                                         may_drop=True)
    except RuntimeError as e:
        print(f"ERROR: {e}")
        return 1

    problems = []
    for key, _ in items:
        if key in missing:
            problems.append((key, kvals.get(key), None, f"missing in ours ({missing[key]})"))
        elif kvals.get(key) != ovals.get(key):
            problems.append((key, kvals.get(key), ovals.get(key), "differs"))
    for key, _, (how, want) in extras:
        expect = kvals.get(want) if how == "kernel" else want
        if key in missing:
            problems.append((key, expect, None, f"missing in ours ({missing[key]})"))
        elif ovals.get(key) != expect:
            problems.append((key, expect, ovals.get(key), "iommusim extension has the wrong value"))

    # Informational: names our headers declare that 6.12 does not (besides EXTRAS).
    try:
        ours = [Header(os.path.join(args.include, "iommusim", h)) for h in conf["ours"]]
        known = {k for k, _ in items} | {k for k, _, _ in extras}
        added = [k for k, _ in items_from(ours) if k not in known]
    except ParseError as e:
        added = [f"(could not list: {e})"]

    n_structs = sum(len(h.structs) for h in kernel_headers)
    n_fields = sum(len(f) for h in kernel_headers for _, _, f in h.structs)
    n_consts = sum(len(n) for h in kernel_headers for _, n in h.enums)
    n_macros = sum(len(h.macros) for h in kernel_headers)
    print(f"Linux 6.12 headers: {n_structs} structs/unions, {n_fields} fields, {n_consts} enum constants, "
          f"{n_macros} macros -> {len(items)} items compared, plus {len(extras)} iommusim extensions")
    if added:
        print(f"note: our headers also declare {len(added)} item(s) the 6.12 headers do not (not an error): "
              + ", ".join(sorted({a.split(":")[0] for a in added})))
    if problems:
        w = max(len(p[0]) for p in problems)
        print(f"\nFAIL: {len(problems)} ABI mismatch(es) between Linux 6.12 and iommusim:")
        print(f"  {'item':<{w}}  {'Linux 6.12':<22}  {'iommusim':<22}  problem")
        for key, kv, ov, why in problems:
            print(f"  {key:<{w}}  {fmt(kv):<22}  {fmt(ov):<22}  {why}")
        return 1
    print("PASS: every size, offset, signedness, enum value and ioctl number matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())

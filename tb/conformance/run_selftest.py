#!/usr/bin/python3
"""Conformance: Linux's own iommufd selftest, unmodified, under `iommusim exec`.

The issue: tools/testing/selftests/iommu/iommufd.c from Debian's
linux-source-6.12, built unmodified and run under `iommusim exec`, must pass
at least 180 of its 190 cases; each case that does not is named, with why, in
tb/conformance/expected_failures.txt.

Steps (ctest runs them as conformance.iommufd_selftest):
 1. extract iommufd.c, iommufd_utils.h, kselftest_harness.h and kselftest.h
    from the tarball into <work-dir>/selftest/ at their in-tree paths, put
    iommusim's iommufd_test.h and iommufd.h where iommufd_utils.h looks for
    the kernel's (drivers/iommu/iommufd/), and iommusim's iommufd.h as
    <linux/iommufd.h> in khdr/ (the Makefile's KHDR_INCLUDES);
 2. compile as the selftest Makefile does (a failure means our headers are not
    a drop-in for the kernel's) and list the cases (./iommufd -l): 190 expected;
 3. when root, raise /proc/sys/vm/nr_hugepages to what the hugetlb cases need
    for the run, and restore it afterwards (also after a failure, a timeout or
    a kill: a stamp file remembers the old value for the next run);
 4. run `iommusim exec -- ./iommufd`, TAP output to <work-dir>/iommufd_selftest.log;
 5. compare every case with expected_failures.txt; print a summary table and
    write <work-dir>/iommufd_selftest.json.

Usage:
  /usr/bin/python3 tb/conformance/run_selftest.py --work-dir BUILD/tb/conformance \
      --iommusim BUILD/sim/iommusim [--preload BUILD/iommufd_api/libiommusim_preload.so]
  ... --compile-only             steps 1-2 only
  ... --parse-log FILE           step 5 only, on a log of an earlier run
  ... --verbose                  echo the selftest's output while it runs
Exit: 0 conformant, 1 not (or an error), 77 kernel source unavailable (skip).
"""

import argparse
import fnmatch
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linux_source  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

EXPECTED_CASES = 190
MIN_PASS = 180
# As tools/testing/selftests/lib.mk builds iommu/Makefile's programs with gcc:
# CFLAGS += -Wall -O2 -Wno-unused-function $(KHDR_INCLUDES), -D_GNU_SOURCE=,
# KHDR_INCLUDES = -isystem <headers>.
SELFTEST_CFLAGS = ["-Wall", "-O2", "-Wno-unused-function"]
LIBMK_CFLAGS = ["-D_GNU_SOURCE="]

# The cases that mmap MAP_HUGETLB|MAP_POPULATE (read from iommufd.c). Without
# enough free huge pages their mmap fails and they fail.
HUGETLB_CASES = [
    "iommufd_ioas.*.access_domain_destory",      # 2 huge pages
    "iommufd_mock_domain.*_hugepage.basic",      # 2 huge pages (the fixture's mmap_flags)
    "iommufd_mock_domain.*_hugepage.all_aligns",
    "iommufd_mock_domain.*_hugepage.all_aligns_copy",
    "iommufd_dirty_tracking.*_huge.*",           # 64M and 128M buffers
    "vfio_compat_mock_domain.*.huge_map",        # 2 huge pages
]
HUGETLB_REASON = "needs MAP_HUGETLB pages and /proc/sys/vm/nr_hugepages could not be raised"
FALLBACK_PEAK_BYTES = 128 << 20   # the largest hugetlb buffer in 6.12's iommufd.c


def say(msg=""):
    print(msg, flush=True)


# ------------------------------------------------------------ staging and compiling

def stage(ksrc, work, include_dir):
    """Lay out the selftest as in the kernel tree, with our headers in the kernel's places."""
    root = os.path.join(work, "selftest")
    if os.path.isdir(root):
        shutil.rmtree(root)
    for rel in linux_source.SELFTEST_FILES:
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        shutil.copy(os.path.join(ksrc, rel), os.path.join(root, rel))
    ours = os.path.join(include_dir, "iommusim")
    drv = os.path.join(root, "drivers", "iommu", "iommufd")
    os.makedirs(drv)
    shutil.copy(os.path.join(ours, "iommufd_test.h"), os.path.join(drv, "iommufd_test.h"))
    shutil.copy(os.path.join(ours, "iommufd.h"), os.path.join(drv, "iommufd.h"))
    khdr = os.path.join(root, "khdr")
    os.makedirs(os.path.join(khdr, "linux"))
    shutil.copy(os.path.join(ours, "iommufd.h"), os.path.join(khdr, "linux", "iommufd.h"))
    return root, os.path.join(root, "tools", "testing", "selftests", "iommu"), khdr


def compile_selftest(src_dir, khdr, work):
    cc = os.environ.get("CC") or shutil.which("cc") or "cc"
    cmd = [cc, *SELFTEST_CFLAGS, "-isystem", khdr, *LIBMK_CFLAGS, "iommufd.c", "-o", "iommufd"]
    say(f"compiling Linux's selftest against iommusim's headers:\n  (cd {src_dir} && {' '.join(cmd)})")
    r = subprocess.run(cmd, cwd=src_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    with open(os.path.join(work, "iommufd_selftest.compile.log"), "w") as f:
        f.write(" ".join(cmd) + "\n" + r.stdout)
    if r.returncode != 0:
        say(r.stdout)
        say("FAIL: the unmodified selftest does not compile against iommusim's iommufd.h/iommufd_test.h: "
            "they are not a drop-in for the kernel's headers (see the errors above)")
        return False
    if r.stdout.strip():
        say(f"compiler warnings:\n{r.stdout}")
    say("compiled: yes")
    return True


def list_cases(binary):
    """Case names in run order, from the harness's own -l listing (fixture/variant/test columns)."""
    r = subprocess.run([binary, "-l"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       cwd=os.path.dirname(binary), timeout=60)
    # Each row is printf("%-20s %-25s %s"): fixture (first row of a fixture only),
    # variant, test; a long name pushes the columns after it to the right.
    fixtures, cur = [], None
    for line in r.stdout.splitlines():
        if not line.strip() or line.startswith("# FIXTURE") or line.startswith("----"):
            continue
        if line[0] != " ":
            name = line.split()[0]
            cur = {"name": name, "variants": [], "tests": []}
            fixtures.append(cur)
            body = line[max(20, len(name)) + 1:]
        elif cur is None:
            raise RuntimeError(f"{binary} -l: unexpected listing line {line!r}")
        else:
            body = line[21:]
        if body[:1] not in ("", " "):
            variant = body.split()[0]
            cur["variants"].append(variant)
            test = body[max(25, len(variant)) + 1:].strip()
        else:
            test = body[26:].strip()
        if test:
            cur["tests"].append(test)
    cases = []
    for f in fixtures:
        for v in f["variants"] or [""]:
            for t in f["tests"]:
                cases.append(f"{f['name']}.{v}.{t}" if v else f"{f['name']}.{t}")
    return cases


def read_expected(path, cases):
    """{case: reason} from expected_failures.txt; every name must be a real case."""
    expected, errors = {}, []
    known = set(cases)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
            if not line:
                continue
            parts = line.split(None, 1)
            name, reason = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if not reason:
                errors.append(f"{path}:{n}: {name}: no reason given")
            elif cases and name not in known:
                errors.append(f"{path}:{n}: {name}: no such case in this selftest")
            elif name in expected:
                errors.append(f"{path}:{n}: {name}: listed twice")
            else:
                expected[name] = reason
    return expected, errors


# ------------------------------------------------------------ huge pages

def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k.strip()] = int(v.split()[0])
    return out


def hugetlb_peak_bytes(selftest_c):
    """The largest hugetlb buffer a case maps, from iommufd.c: the .buffer_size of
    variants with .hugepages = true, and 2 * HUGEPAGE_SIZE elsewhere."""
    text = open(selftest_c).read()
    peak = 0
    for body in re.findall(r"FIXTURE_VARIANT_ADD\([^)]*\)\s*\{(.*?)\n\}", text, flags=re.S):
        if re.search(r"\.hugepages\s*=\s*true", body):
            m = re.search(r"\.buffer_size\s*=\s*([0-9UL*\s]+),", body)
            if m:
                expr = re.sub(r"(\d+)[UL]+", r"\1", m.group(1))
                if re.fullmatch(r"[\d\s*]+", expr):
                    peak = max(peak, eval(expr))  # digits and '*' only, checked above
    return peak or FALLBACK_PEAK_BYTES


class HugePages:
    """Makes enough huge pages free for the run when it can, and puts the old
    nr_hugepages back afterwards (restore() is idempotent)."""
    SYSCTL = "/proc/sys/vm/nr_hugepages"

    def __init__(self, work, peak_bytes, allow_change=True):
        self.stamp = os.path.join(work, "nr_hugepages.restore")
        self.peak_bytes = peak_bytes
        self.allow_change = allow_change
        self.old = None
        self.info = {}
        self.peak_used = 0
        self._stop = threading.Event()
        self._thread = None

    def _write(self, n):
        with open(self.SYSCTL, "w") as f:
            f.write(f"{n}\n")

    def _read(self):
        with open(self.SYSCTL) as f:
            return int(f.read().strip())

    def setup(self):
        self._restore_stale()
        mi = meminfo()
        page = mi.get("Hugepagesize", 2048) * 1024
        need = math.ceil(self.peak_bytes / page)
        free = mi.get("HugePages_Free", 0)
        self.info = {"page_size": page, "needed": need, "free_before": free,
                     "total_before": mi.get("HugePages_Total", 0), "changed": False}
        if free >= need:
            self.info["status"] = f"{free} huge pages of {page >> 20} MiB already free (need {need})"
        elif not self.allow_change:
            self.info["status"] = f"only {free} of {need} huge pages free and --no-hugepages given"
        elif os.geteuid() != 0:
            self.info["status"] = f"only {free} of {need} huge pages free, and not root: cannot raise {self.SYSCTL}"
        else:
            try:
                self.old = self._read()
                target = self.old + (need - free)
                with open(self.stamp, "w") as f:
                    json.dump({"old": self.old, "target": target}, f)
                self._write(target)
                self.info["changed"] = True
                self.info["nr_hugepages_old"], self.info["nr_hugepages_set"] = self.old, target
                free = meminfo().get("HugePages_Free", 0)
                self.info["status"] = (f"raised {self.SYSCTL} {self.old} -> {target} for the run; "
                                       f"{free} of {need} needed huge pages free")
            except OSError as e:
                self.info["status"] = f"only {free} of {need} huge pages free; cannot write {self.SYSCTL}: {e}"
                self._drop_stamp()
                self.old = None
        self.info["free_for_run"] = free
        self.info["enough"] = free >= need
        self.baseline_used = meminfo().get("HugePages_Total", 0) - free
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self.info["enough"]

    def _sample(self):
        while not self._stop.wait(0.01):
            try:
                mi = meminfo()
            except OSError:
                continue
            used = mi.get("HugePages_Total", 0) - mi.get("HugePages_Free", 0) - self.baseline_used
            self.peak_used = max(self.peak_used, used)

    def restore(self):
        self._stop.set()
        self.info["peak_used_during_run"] = self.peak_used
        if self.old is not None:
            try:
                self._write(self.old)
                say(f"restored {self.SYSCTL} to {self.old}")
            except OSError as e:
                say(f"WARNING: could not restore {self.SYSCTL} to {self.old}: {e}")
                return
            self.old = None
            self._drop_stamp()

    def _drop_stamp(self):
        try:
            os.unlink(self.stamp)
        except FileNotFoundError:
            pass

    def _restore_stale(self):
        """An earlier run was killed before it could restore: do it now."""
        try:
            with open(self.stamp) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return
        try:
            if self._read() == st["target"]:
                self._write(st["old"])
                say(f"restored {self.SYSCTL} to {st['old']} (left raised by an interrupted earlier run)")
        except (OSError, KeyError) as e:
            say(f"WARNING: could not restore {self.SYSCTL} from {self.stamp}: {e}")
            return
        self._drop_stamp()


# ------------------------------------------------------------ running

def descendants(pid):
    """All live descendants of pid (the harness puts each case in its own process group,
    so killing the runner's group would leave a hung case behind)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(proc):
    pids = descendants(proc.pid) + [proc.pid]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_selftest(cmd, cwd, log_path, timeout, verbose):
    """Runs cmd with stdout+stderr into log_path. Returns (exit status or None, timed_out, seconds)."""
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def pump():
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if verbose:
                    sys.stdout.write(line.decode(errors="replace"))
                    sys.stdout.flush()
        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if proc.poll() is None:
                kill_tree(proc)
            reader.join(timeout=10)
    return proc.returncode, timed_out, time.monotonic() - start


# ------------------------------------------------------------ TAP parsing

RUN_RE = re.compile(r"^#\s+RUN\s+(\S+) \.\.\.\s*$")
MARK_RE = re.compile(r"^#\s+(OK|FAIL)\s+(\S+)\s*$")
RESULT_RE = re.compile(r"^(not ok|ok) (\d+) (\S+)(?: #\s*(?:(SKIP|XFAIL|XPASS)\b)?\s*(.*))?$")
PLAN_RE = re.compile(r"^1\.\.(\d+)\s*$")


def parse_tap(text):
    """{case: {number, result: pass|fail|skip, detail, log[]}}, the plan, a bail-out
    line, and the case that started but never reported (a crash or a timeout)."""
    results, plan, bail, current, diag = {}, None, None, None, []
    for line in text.splitlines():
        m = PLAN_RE.match(line)
        if m:
            plan = int(m.group(1))
            continue
        if line.startswith("Bail out!"):
            bail = line
            continue
        m = RUN_RE.match(line)
        if m:
            current, diag = m.group(1), []
            continue
        m = RESULT_RE.match(line)
        if m:
            tap, num, name, directive, detail = m.groups()
            if tap == "not ok" or directive == "XFAIL":
                res = "fail"
            elif directive == "SKIP":
                res = "skip"
            else:
                res = "pass"
            results[name] = {"number": int(num), "result": res, "detail": (detail or "").strip(),
                             "log": diag if current == name else []}
            current, diag = None, []
            continue
        if current is not None and not MARK_RE.match(line):
            diag.append(line)
    return results, plan, bail, current


def evaluate(cases, results, expected, hugetlb_expected):
    """Classifies every case; returns (rows, counts, unexpected, now_passing)."""
    rows, unexpected, now_passing = [], [], []
    counts = {"pass": 0, "fail": 0, "skip": 0, "no result": 0}
    all_names = list(cases) + [n for n in results if n not in set(cases)]
    for name in all_names:
        r = results.get(name)
        res = r["result"] if r else "no result"
        counts[res] += 1
        reason = expected.get(name) or hugetlb_expected.get(name)
        row = {"name": name, "number": r["number"] if r else None, "result": res,
               "expected_not_to_pass": bool(reason), "reason": reason,
               "detail": r["detail"] if r else "", "log": (r["log"] if r else [])[-20:],
               "unexpected": False, "known_case": name in set(cases)}
        if res == "pass" and name in expected:
            row["unexpected"] = True
            now_passing.append(row)
        elif res != "pass" and not reason:
            row["unexpected"] = True
            unexpected.append(row)
        rows.append(row)
    return rows, counts, unexpected, now_passing


def first_assertion(row):
    """The most telling line of a case's log: its assertion, else its last line."""
    if row["result"] == "skip" and row["detail"]:
        return "SKIP: " + row["detail"]
    lines = [ln.lstrip("# ").strip() for ln in row["log"] if ln.strip()]
    for ln in lines:
        if re.match(r"\S+\.[ch]:\d+:", ln):
            return ln
    for ln in lines:
        if "terminated" in ln or "SKIP" in ln:
            return ln
    return row["detail"] or (lines[-1] if lines else "")


def report(rows, counts, unexpected, now_passing, n_listed, extra_fail, paths, hp_info, run_info,
           expected_path):
    total = len(rows)
    say("")
    say("=" * 100)
    say(f"Linux 6.12 iommufd selftest under `iommusim exec`: {total} cases")
    say(f"  {'pass':>9} {'fail':>6} {'skip':>6} {'no result':>10}   required")
    say(f"  {counts['pass']:>9} {counts['fail']:>6} {counts['skip']:>6} {counts['no result']:>10}   "
        f">= {MIN_PASS} pass of exactly {EXPECTED_CASES}")
    if hp_info:
        say(f"  huge pages: {hp_info.get('status')}; most in use at once (sampled every 10 ms): "
            f"{hp_info.get('peak_used_during_run', '?')}")
    if run_info:
        say(f"  run: {run_info}")
    listed = [r for r in rows if r["expected_not_to_pass"]]
    if listed:
        say(f"\nExpected not to pass ({len(listed)}; {n_listed} listed in {os.path.relpath(expected_path, REPO)}):")
        w = max(len(r["name"]) for r in listed)
        for r in listed:
            say(f"  {r['result'].upper():<10} {r['name']:<{w}}  {r['reason']}")
    if unexpected or now_passing:
        say(f"\nUnexpected results ({len(unexpected) + len(now_passing)}):")
        w = max(len(r["name"]) for r in unexpected + now_passing)
        noresult = [r for r in unexpected if r["result"] == "no result"]
        for r in unexpected:
            if r["result"] == "no result" and len(noresult) > 5 and r is not noresult[0]:
                continue
            say(f"  {r['result'].upper():<10} {r['name']:<{w}}  {first_assertion(r)}")
        if len(noresult) > 5:
            say(f"  {'NO RESULT':<10} ... and {len(noresult) - 1} more cases after it (all in the JSON summary)")
        for r in now_passing:
            say(f"  {'NOW PASSES':<10} {r['name']:<{w}}  remove it from the list")
    else:
        say("\nNo unexpected results.")
    verdict = not (unexpected or now_passing or extra_fail)
    for why in extra_fail:
        say(f"FAIL: {why}")
    say(f"\nlog: {paths['log']}\nsummary: {paths['json']}")
    say(f"{'PASS' if verdict else 'FAIL'}: {counts['pass']} of {total} cases pass "
        f"(need {MIN_PASS} of {EXPECTED_CASES}); {len(unexpected)} unexpected non-passing, "
        f"{len(now_passing)} listed but now passing")
    return verdict


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work-dir", required=True, help="folder in the build tree for sources, binary and logs")
    ap.add_argument("--iommusim", help="the iommusim CLI (build/sim/iommusim)")
    ap.add_argument("--preload", help="libiommusim_preload.so (checked to exist)")
    ap.add_argument("--libiommusim", help="libiommusim.so (checked to exist)")
    ap.add_argument("--include", default=os.path.join(REPO, "iommufd_api", "include"),
                    help="folder holding iommusim/iommufd.h and iommusim/iommufd_test.h")
    ap.add_argument("--expected", default=os.path.join(HERE, "expected_failures.txt"))
    ap.add_argument("--tarball", default=None, help=f"default {linux_source.DEFAULT_TARBALL}")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("IOMMUSIM_SELFTEST_TIMEOUT", 820)),
                    help="seconds for the whole selftest run (ctest's TIMEOUT is 900)")
    ap.add_argument("--compile-only", action="store_true", help="stop after compiling and listing the cases")
    ap.add_argument("--skip-after-compile", metavar="REASON",
                    help="compile and list, then report a skip (exit 77) with REASON")
    ap.add_argument("--parse-log", metavar="LOG", help="only evaluate the log of an earlier run")
    ap.add_argument("--no-hugepages", action="store_true", help="never change /proc/sys/vm/nr_hugepages")
    ap.add_argument("--verbose", action="store_true", help="echo the selftest's output")
    args = ap.parse_args()

    work = os.path.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    paths = {"log": os.path.join(work, "iommufd_selftest.log"),
             "json": os.path.join(work, "iommufd_selftest.json")}
    extra_fail = []

    if args.parse_log:    # the binary of the earlier run, if it is still there, lists the cases
        src_dir = os.path.join(work, "selftest", os.path.dirname(linux_source.SELFTEST_FILES[0]))
    else:
        ksrc = linux_source.extract_or_exit(work, args.tarball)
        _, src_dir, khdr = stage(ksrc, work, args.include)
        if not compile_selftest(src_dir, khdr, work):
            return 1
    binary = os.path.join(src_dir, "iommufd")
    cases = list_cases(binary) if os.path.exists(binary) else []
    if cases or not args.parse_log:
        say(f"the selftest has {len(cases)} cases")
    if len(cases) != EXPECTED_CASES and (cases or not args.parse_log):
        extra_fail.append(f"the selftest lists {len(cases)} cases, not {EXPECTED_CASES}: "
                          "a different iommufd.c than Debian's 6.12")
    expected, errors = read_expected(args.expected, cases)
    if errors:
        say("ERROR: " + "\n  ".join([f"{args.expected} is not valid:"] + errors))
        return 1
    if args.compile_only or args.skip_after_compile:
        if extra_fail:
            say("FAIL: " + extra_fail[0])
            return 1
        if args.skip_after_compile:
            say(f"SKIP: compiled and listed the selftest, but did not run it: {args.skip_after_compile}")
            return linux_source.SKIP
        return 0

    hp, run_info, hugetlb_expected = None, "", {}
    if args.parse_log:
        with open(args.parse_log, errors="replace") as f:
            text = f.read()
        paths["log"] = os.path.abspath(args.parse_log)
        paths["json"] = os.path.splitext(paths["log"])[0] + ".reparsed.json"   # keep the run's own
    else:
        missing = [f"{what} {p}" for what, p in (("iommusim CLI", args.iommusim),
                                                 ("preload library", args.preload),
                                                 ("libiommusim", args.libiommusim))
                   if p is not None and not os.path.exists(p)]
        if not args.iommusim:
            missing.append("--iommusim was not given")
        if missing:
            say("FAIL: cannot run the selftest: " + "; ".join(missing) +
                " — build them first (cmake --build <build>; they are part of ALL)")
            return 1
        hp = HugePages(work, hugetlb_peak_bytes(os.path.join(src_dir, "iommufd.c")),
                       allow_change=not args.no_hugepages)

        def on_signal(signum, _frame):
            raise SystemExit(f"interrupted by signal {signum}")
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, on_signal)
        try:
            enough = hp.setup()
            say(f"huge pages: {hp.info['status']}")
            if not enough:
                hugetlb_expected = {c: HUGETLB_REASON for c in cases
                                    if any(fnmatch.fnmatchcase(c, p) for p in HUGETLB_CASES)}
                say(f"huge pages: NOT enough — the {len(hugetlb_expected)} hugetlb cases are expected to fail "
                    f"in this run ({HUGETLB_REASON})")
            cmd = [os.path.abspath(args.iommusim), "exec", "--", "./iommufd"]
            say(f"running: (cd {src_dir} && {' '.join(cmd)})  [timeout {args.timeout:.0f} s, log {paths['log']}]")
            status, timed_out, secs = run_selftest(cmd, src_dir, paths["log"], args.timeout, args.verbose)
        finally:
            hp.restore()
        run_info = f"{secs:.0f} s, " + (f"TIMED OUT after {args.timeout:.0f} s" if timed_out else
                                         f"exit status {status}")
        if timed_out:
            extra_fail.append(f"the selftest did not finish within {args.timeout:.0f} s")
        elif status is not None and status < 0:
            extra_fail.append(f"the selftest runner was killed by signal {-status}")
        with open(paths["log"], errors="replace") as f:
            text = f.read()

    results, plan, bail, unfinished = parse_tap(text)
    if not cases:
        cases = sorted(results, key=lambda n: results[n]["number"])
    rows, counts, unexpected, now_passing = evaluate(cases, results, expected, hugetlb_expected)
    if plan != EXPECTED_CASES:
        extra_fail.append(f"the TAP plan says {plan if plan is not None else 'nothing'}, "
                          f"not 1..{EXPECTED_CASES} (did the program start under iommusim exec?)")
    if unfinished:
        extra_fail.append(f"the run ended inside case {unfinished} (it started but reported no result)")
    if bail:
        extra_fail.append(f"the selftest bailed out: {bail}")
    reported = len(results)
    if reported != EXPECTED_CASES:
        extra_fail.append(f"{reported} case results in the log, not {EXPECTED_CASES}")
    if counts["pass"] < MIN_PASS:
        why = f"only {counts['pass']} cases pass; at least {MIN_PASS} of {EXPECTED_CASES} must"
        n_huge = sum(1 for r in rows if r["result"] != "pass" and r["name"] in hugetlb_expected)
        if n_huge:
            why += (f" ({n_huge} of them failed for want of huge pages: run as root, or set "
                    f"vm.nr_hugepages so that {hp.info.get('needed')} are free)")
        extra_fail.append(why)
    if len(expected) > EXPECTED_CASES - MIN_PASS:
        extra_fail.append(f"{len(expected)} cases listed in expected_failures.txt; the issue allows "
                          f"{EXPECTED_CASES - MIN_PASS}")
    if not text.strip():
        extra_fail.append("the selftest printed nothing")
    elif plan is None:
        head = "\n    ".join(text.strip().splitlines()[:15])
        say(f"the log does not look like the selftest's TAP output; it begins:\n    {head}")

    ok = report(rows, counts, unexpected, now_passing, len(expected), extra_fail, paths,
                hp.info if hp else None, run_info, args.expected)
    summary = {
        "selftest": "tools/testing/selftests/iommu/iommufd.c (Debian linux-source-6.12)",
        "command": "iommusim exec -- ./iommufd",
        "verdict": "pass" if ok else "fail",
        "failures": extra_fail
        + [f"unexpected {r['result']}: {r['name']}" for r in unexpected]
        + [f"now passes (remove it from expected_failures.txt): {r['name']}" for r in now_passing],
        "required": {"cases": EXPECTED_CASES, "min_pass": MIN_PASS},
        "counts": dict(counts, total=len(rows), listed_expected=len(expected)),
        "tap_plan": plan,
        "run": run_info,
        "hugepages": hp.info if hp else None,
        "log": paths["log"],
        "cases": rows,
    }
    with open(paths["json"], "w") as f:
        json.dump(summary, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

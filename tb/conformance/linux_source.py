"""Find Debian's linux-source-6.12 tarball and extract the few files the conformance
checks need, into the build tree, at test time.

Used by abi_check.py and run_selftest.py. Nothing from the kernel is committed:
the files land under <work-dir>/linux-source-6.12/ with their in-tree paths.

Both tests may run at once (ctest -j): extraction and the apt-get fallback
hold an flock on <work-dir>/linux-source-6.12.lock, and a stamp file records
what was extracted from which tarball, so the ~8 s xz pass happens once.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys

DEFAULT_TARBALL = "/usr/src/linux-source-6.12.tar.xz"
DEBIAN_PACKAGE = "linux-source-6.12"
TOP_DIR = "linux-source-6.12"  # the tarball's top-level folder

# Every kernel file any conformance check reads, as paths inside the kernel tree.
UAPI_IOMMUFD_H = "include/uapi/linux/iommufd.h"
IOMMUFD_TEST_H = "drivers/iommu/iommufd/iommufd_test.h"
UAPI_VFIO_H = "include/uapi/linux/vfio.h"
SELFTEST_FILES = [
    "tools/testing/selftests/iommu/iommufd.c",
    "tools/testing/selftests/iommu/iommufd_utils.h",
    "tools/testing/selftests/kselftest_harness.h",
    "tools/testing/selftests/kselftest.h",
]
ALL_MEMBERS = [UAPI_IOMMUFD_H, IOMMUFD_TEST_H, UAPI_VFIO_H] + SELFTEST_FILES

SKIP = 77  # ctest SKIP_RETURN_CODE


class Unavailable(Exception):
    """The kernel source cannot be had here: the check is skipped, with this reason."""


def _log(msg):
    print(f"[linux-source] {msg}", flush=True)


def _try_apt_install():
    """Install linux-source-6.12 when we are root and apt-get exists. Returns a reason
    string when it could not be done, None on success."""
    if os.geteuid() != 0:
        return "not running as root, so apt-get install was not attempted"
    apt = shutil.which("apt-get")
    if not apt:
        return "apt-get is not available"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [apt, "install", "-y", "-q", "--no-install-recommends", DEBIAN_PACKAGE]
    for attempt in (1, 2):
        _log(f"running: {' '.join(cmd)}")
        try:
            r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return "apt-get install timed out after 600 s"
        if r.returncode == 0:
            return None
        tail = "\n".join(r.stdout.strip().splitlines()[-5:])
        if attempt == 1:
            _log(f"apt-get install failed (exit {r.returncode}); running apt-get update and retrying\n{tail}")
            try:
                subprocess.run([apt, "update", "-q"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=300)
            except subprocess.TimeoutExpired:
                return "apt-get update timed out after 300 s"
        else:
            return f"apt-get install {DEBIAN_PACKAGE} failed (exit {r.returncode}):\n{tail}"
    return "unreachable"


def _stamp_for(tarball):
    st = os.stat(tarball)
    return {"tarball": os.path.abspath(tarball), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "members": ALL_MEMBERS}


def extract(work_dir, tarball=None):
    """Return the folder that holds ALL_MEMBERS at their in-tree paths, extracting them
    from the tarball when needed. Raises Unavailable (skip) or RuntimeError (failure)."""
    tarball = tarball or os.environ.get("IOMMUSIM_LINUX_SOURCE_TARBALL") or DEFAULT_TARBALL
    os.makedirs(work_dir, exist_ok=True)
    dest = os.path.join(work_dir, TOP_DIR)
    stamp_path = os.path.join(dest, ".iommusim-extracted.json")
    with open(os.path.join(work_dir, TOP_DIR + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(tarball):
            if tarball != DEFAULT_TARBALL:
                raise Unavailable(f"{tarball} does not exist (named by --tarball or IOMMUSIM_LINUX_SOURCE_TARBALL)")
            _log(f"{tarball} is absent; trying to install Debian's {DEBIAN_PACKAGE}")
            why = _try_apt_install()
            if why or not os.path.exists(tarball):
                raise Unavailable(f"{tarball} is absent and could not be installed: "
                                  f"{why or 'the package did not provide it'}. "
                                  f"Install it with: apt-get install {DEBIAN_PACKAGE}")
        want = _stamp_for(tarball)
        try:
            with open(stamp_path) as f:
                have = json.load(f)
        except (OSError, ValueError):
            have = None
        if have == want and all(os.path.isfile(os.path.join(dest, m)) for m in ALL_MEMBERS):
            return dest
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        os.makedirs(dest)
        if not shutil.which("tar") or not shutil.which("xz"):
            raise RuntimeError("extracting the kernel source needs tar and xz (apt-get install xz-utils)")
        _log(f"extracting {len(ALL_MEMBERS)} files from {tarball} into {dest} (one xz pass, ~10 s)")
        cmd = ["tar", "-xJf", tarball, "-C", dest, "--strip-components=1"]
        cmd += [f"{TOP_DIR}/{m}" for m in ALL_MEMBERS]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{tarball}: tar failed (exit {r.returncode}); is it Linux 6.12's "
                               f"source with top folder {TOP_DIR}/?\n{r.stdout.strip()}")
        missing = [m for m in ALL_MEMBERS if not os.path.isfile(os.path.join(dest, m))]
        if missing:
            raise RuntimeError(f"{tarball}: these files were not in the archive: {', '.join(missing)}")
        with open(stamp_path, "w") as f:
            json.dump(want, f)
        return dest


def extract_or_exit(work_dir, tarball=None):
    """extract(), turning Unavailable into a visible skip (exit 77) and errors into exit 1."""
    try:
        return extract(work_dir, tarball)
    except Unavailable as e:
        print(f"SKIP: Linux 6.12 source unavailable: {e}", flush=True)
        sys.exit(SKIP)
    except RuntimeError as e:
        print(f"ERROR: {e}", flush=True)
        sys.exit(1)

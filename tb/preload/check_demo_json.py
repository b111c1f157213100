"""cli.demo_json: `iommusim demo --json` prints one JSON document (nothing
else on stdout) whose steps carry name, ioctl, result, errno and outputs, that
shows the expected failures by their errno names, and whose "ok" agrees with
the exit status, which must be 0.

    check_demo_json.py PATH/TO/iommusim
"""
import json
import subprocess
import sys


def main() -> int:
    cli = sys.argv[1]
    proc = subprocess.run([cli, "demo", "--json"], capture_output=True, text=True, timeout=110)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        print(f"stdout is not one JSON document: {e}\n{proc.stdout[:2000]}", file=sys.stderr)
        return 1
    problems = []
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        problems.append("no steps")
        steps = []
    for s in steps:
        missing = [k for k in ("name", "ioctl", "result", "errno", "outputs", "ok") if k not in s]
        if missing:
            problems.append(f"step {s.get('step')} lacks {missing}")
        elif not s["ok"]:
            problems.append(f"step {s['step']} ({s['name']}, {s['ioctl']}): result {s['result']} "
                            f"errno {s['errno']}, expected {s.get('expected_errno')}; "
                            f"{s.get('failures')}")
    seen = {s.get("errno") for s in steps}
    for name in ("EEXIST", "EBUSY", "ENOENT", "EINVAL", "E2BIG"):
        if name not in seen:
            problems.append(f"no step failed with {name}")
    if doc.get("ok") is not (proc.returncode == 0):
        problems.append(f"\"ok\" is {doc.get('ok')} but the exit status is {proc.returncode}")
    if proc.returncode != 0:
        problems.append(f"exit status {proc.returncode}")
    for p in problems:
        print(p, file=sys.stderr)
    if proc.stderr:
        print(f"stderr:\n{proc.stderr}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Child processes: the probes (benchmarks/probe.py) and how a child ended."""
import json
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def describe_exit(returncode):
    """'killed by SIGSEGV', 'exit 3'."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def run_probe(args, timeout):
    """The probe's JSON result; a crash, a timeout or garbage becomes
    {'ok': False, 'error': how it failed}."""
    cmd = [sys.executable, "-m", "benchmarks.probe", *map(str, args)]
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {timeout:g} s"}
    if p.returncode < 0:
        return {"ok": False, "error": f"crashed: {describe_exit(p.returncode)}"}
    lines = p.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": f"exit {p.returncode}: {tail}"[:200]}

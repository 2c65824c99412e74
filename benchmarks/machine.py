"""What the numbers were measured on: platform, Python, CPUs, date, and
which pygrad (path, C core loaded or not, git commit of the tree)."""
import datetime
import os
import platform
import subprocess


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib():
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _git_commit(root):
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _pygrad():
    try:
        import pygrad
        from pygrad import _ffi
    except ImportError as exc:
        return {"error": str(exc)}
    return {"version": pygrad.__version__, "path": os.path.dirname(pygrad.__file__),
            "c_core": "loaded" if _ffi.lib is not None else f"not loaded ({_ffi.LOAD_ERROR})"}


def loadavg():
    """1-minute load average: other work on the machine shows here."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def info(root, command):
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "memory_gib": _memory_gib(),
        "pygrad": _pygrad(),
        "git_commit": _git_commit(root),
        "command": command,
        "loadavg_start": loadavg(),
    }

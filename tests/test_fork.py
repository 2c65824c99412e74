"""fork: a child forked while another thread is inside backward() can
differentiate on its own. The reference engine serializes sweeps with a
lock; a child inherits it held by a thread that does not exist there, so
pygrad makes a new one after fork. The scenario runs in a fresh interpreter
(forking the test runner itself, with its threads, is not safe), and a
child that hangs is killed: a regression fails instead of hanging."""
import os
import subprocess
import sys
import textwrap

import pytest

import pygrad

SCRIPT = textwrap.dedent("""
    import os, sys, threading, time
    from pygrad import reference
    from pygrad._engines import value_class

    V = value_class(sys.argv[1])
    busy = V(1.0)
    root = busy
    for _ in range(50_000):          # long enough to be caught mid-sweep
        root = root * 1.0000001 + 1e-9
    stop = False

    def sweep():
        while not stop:
            root.backward()

    t = threading.Thread(target=sweep)
    t.start()
    if sys.argv[1] == "c":             # no lock: a C sweep holds the GIL throughout
        time.sleep(0.2)
    else:                              # wait until the other thread is mid-sweep
        deadline = time.monotonic() + 20
        while reference.BACKWARD_LOCK.acquire(blocking=False):
            reference.BACKWARD_LOCK.release()
            if time.monotonic() > deadline:
                sys.exit("the sweeping thread was never seen holding the lock")
    pid = os.fork()
    if pid == 0:                       # the child: its own small graph
        x = V(3.0)
        (x * x + x).backward()
        os._exit(0 if x.grad == 7.0 else 1)
    stop = True
    for _ in range(200):               # 10 s
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        t.join()
        sys.exit("the forked child hung")
    t.join()
    sys.exit(0 if os.waitstatus_to_exitcode(status) == 0 else "the child got a wrong gradient")
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_another_threads_backward_does_not_hang(engine):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, pygrad.get_engine()], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr

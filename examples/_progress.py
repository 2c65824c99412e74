"""Progress for the examples' training loops.

On a terminal with tqdm installed: a bar with the rate and an ETA, the
loop's own lines printed above it. On a terminal without tqdm: the loop's
lines, each with an ETA appended once the work has run a few seconds. When
the output is not a terminal (a pipe, a file, a test): exactly the loop's
lines, nothing time-dependent, so logs compare equal across runs.

    report = progress(steps, "training")
    for k in range(steps):
        ...
        report(f"step {k} loss {loss}")    # one unit of work done, and its line
    report.close()
"""
import sys
import time

ETA_AFTER = 3.0     # seconds: shorter work needs no estimate


def progress(total, desc, stream=None):
    stream = stream or sys.stdout
    if stream.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            return Lines(total, stream, eta=True)
        return Bar(tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True), stream)
    return Lines(total, stream, eta=False)


class Lines:
    def __init__(self, total, stream, eta, clock=time.perf_counter):
        self.total, self.stream, self.eta, self.clock = total, stream, eta, clock
        self.done, self.start = 0, clock()

    def __call__(self, line):
        self.done += 1
        elapsed = self.clock() - self.start
        if self.eta and elapsed >= ETA_AFTER and self.done < self.total:
            line += f"  [{self.done}/{self.total}, ETA {eta(elapsed, self.done, self.total)}]"
        print(line, file=self.stream)

    def close(self):
        pass


class Bar:
    def __init__(self, bar, stream):
        self.bar, self.stream = bar, stream

    def __call__(self, line):
        self.bar.write(line, file=self.stream)
        self.bar.update(1)

    def close(self):
        self.bar.close()


def eta(elapsed, done, total):
    """The time left at the rate so far, as m:ss."""
    left = round(elapsed / done * (total - done))
    return f"{left // 60}:{left % 60:02d}"

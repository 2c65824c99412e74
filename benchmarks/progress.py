"""Progress on stderr: a bar redrawn in place on a terminal, or one line per
workload when stderr is a file (CI logs stay short)."""
import sys
import time


class Progress:

    def __init__(self, stream=sys.stderr, enabled=True):
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self.name, self.total, self.done, self.t0 = "", 0, 0, 0.0

    def start(self, name, total):
        self.name, self.total, self.done, self.t0 = name, max(total, 1), 0, time.perf_counter()
        if self.enabled and not self.tty:
            self._write(f"[bench] {name} ...\n")
        self._draw("")

    def tick(self, label):
        self.done = min(self.done + 1, self.total)
        self._draw(label)

    def finish(self):
        took = time.perf_counter() - self.t0
        if self.tty:
            self._write("\r\033[K")
        if self.enabled:
            self._write(f"[bench] {self.name} done in {took:.1f} s\n")

    def _draw(self, label):
        if not self.tty:
            return
        width = 24
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        self._write(f"\r\033[K[bench] {self.name:<18} [{bar}] {self.done}/{self.total} {label}")

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

"""Progress on stderr while a run goes on: a tqdm bar over the workloads when
tqdm is installed and stderr is a terminal, otherwise plain lines; either
way nothing is said until the run has taken a few seconds (a quick run
stays quiet), and nothing goes to stdout, where the results are."""
import sys
import time

QUIET_FOR = 3.0       # seconds before the first word
EVERY = 10.0          # at most one plain line per this many seconds within a workload


class Progress:
    def __init__(self, names, stream=None, enabled=True, clock=time.monotonic):
        self.names, self.stream, self.enabled, self.clock = list(names), stream or sys.stderr, enabled, clock
        self.t0 = self.last = clock()
        self.done, self.current, self.rounds, self.bar = 0, None, 0, None

    def _bar(self):
        """tqdm's bar, made when first needed; None where it is absent or stderr is not a terminal."""
        if self.bar is None and self.stream.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                self.bar = False
            else:
                self.bar = tqdm(total=len(self.names), initial=self.done, file=self.stream, unit="workload")
        return self.bar or None

    def _say(self, text):
        now = self.clock()
        if not self.enabled or now - self.t0 < QUIET_FOR:
            return
        self.last = now
        bar = self._bar()
        if bar:
            bar.set_description_str(text)
        else:
            print(f"[{self.done}/{len(self.names)}, {now - self.t0:.0f} s] {text}", file=self.stream, flush=True)

    def start(self, name):
        self.current, self.rounds = name, 0
        self._say(f"{name} ...")

    def tick(self, done=None):
        """A round of samples done (harness.alternate calls it), or what `done` says
        (a workload's long set-up, such as building a million-node graph)."""
        if done is None:
            self.rounds += 1
        if self.clock() - self.last >= EVERY:
            self._say(f"{self.current}: {done or f'round {self.rounds}'} done")

    def finish(self):
        bar = self._bar() if self.enabled and self.clock() - self.t0 >= QUIET_FOR else None
        self.done += 1
        if bar:
            bar.update(1)

    def close(self):
        if self.bar:
            self.bar.close()

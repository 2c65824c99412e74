"""The workloads, in report order. Each is `run(ctx) -> [rows]` (results.py)."""
from dataclasses import dataclass

from . import backward, compiled, deep, eager, memory, scaling, train


@dataclass
class Context:
    engines: list       # loaded engines.Engine, in report order (the floor among them)
    cfg: dict           # sizes and repetitions of the mode (config.py)
    progress: object    # progress.Progress

    def values(self):
        """The engines proper: those with a `Value` (not the floor)."""
        return [e for e in self.engines if e.floor is None]

    def plain(self):
        """The engines without the *-gc-off variants (measured only where cheap)."""
        return [e for e in self.values() if not e.gc_off]

    def pygrad(self):
        """pygrad's own engines (compiled mode is theirs alone)."""
        return [e for e in self.plain() if e.name in ("c", "python")]

    def floor(self):
        """The hand-written C floor (floor/), or None if not run."""
        return next((e for e in self.engines if e.floor is not None), None)


WORKLOADS = {
    "eager_forward": eager.forward,
    "eager_thread": eager.forward_with_thread,
    "backward_chain": backward.chain,
    "backward_wide": backward.wide,
    "backward_dag": backward.dag,
    "backward_dag_local": backward.dag_local,
    "backward_mlp": backward.mlp,
    "train_step": train.demo_step,
    "train_step_compiled": compiled.train_step,
    "forward_batch": compiled.forward_batch,
    "deep_chain": deep.deepest,
    "memory": memory.per_node,
    "scaling": scaling.curve,
}


def _matches(name, wanted):
    # An exact name means that workload alone ('backward_dag', not
    # 'backward_dag_local' too); anything else is a prefix ('backward').
    return name == wanted if wanted in WORKLOADS else name.startswith(wanted)


def select(only):
    """Workload names for --only (exact names, or prefixes: 'backward')."""
    if not only:
        return list(WORKLOADS)
    chosen = [w for w in WORKLOADS if any(_matches(w, o) for o in only)]
    unknown = [o for o in only if not any(_matches(w, o) for w in WORKLOADS)]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    return chosen

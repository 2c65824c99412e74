"""Sizes and repetitions of the two modes. Quick is for CI (well under a
minute on 2 cores); full is the measurement the README quotes."""

QUICK = {
    "reps": 3,
    "eager_ops": 20_000,            # ops per sample (two per chain step)
    "graph_nodes": 10_000,          # nodes (terms) per backward graph
    "train_points": 100,            # micrograd's demo: always its 100 points
    "train_steps": 2,               # consecutive eager steps per sample
    "compiled_steps": 5,            # consecutive compiled steps per sample
    "batch_rows": 10_000,           # forward_batch rows (C engine, floor)
    "batch_rows_python": 200,       # the same on the pure-Python replay
    "deep_depths": (1_000, 10_000, 100_000),
    "deep_timeout": 30.0,           # seconds per child process
    "memory_nodes": 100_000,
    "scaling_sizes": (1_000, 10_000),
    "scaling_reps": 3,
}

FULL = {
    "reps": 5,
    "eager_ops": 100_000,
    "graph_nodes": 1_000_000,
    "train_points": 100,
    "train_steps": 5,
    "compiled_steps": 50,
    "batch_rows": 100_000,
    "batch_rows_python": 2_000,
    "deep_depths": (1_000, 10_000, 100_000, 1_000_000, 10_000_000),
    "deep_timeout": 120.0,
    "memory_nodes": 1_000_000,
    "scaling_sizes": (1_000, 10_000, 100_000, 1_000_000),
    "scaling_reps": 3,
}


def mode(quick, reps=None):
    cfg = dict(QUICK if quick else FULL)
    cfg["mode"] = "quick" if quick else "full"
    if reps:
        cfg["reps"] = cfg["scaling_reps"] = reps
    return cfg

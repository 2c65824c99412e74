"""Learning-rate schedulers, as torch.optim.lr_scheduler (imported as
`pygrad.optim.lr_scheduler`): made on an optimizer, they set its `lr` at
each `.step()` with torch's formulas, in torch's recursive form, so the
rates are torch's to the last bit.

    opt = pygrad.optim.SGD(params, lr=0.1)
    sched = pygrad.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        ...; opt.step(); sched.step()
"""
import math
from typing import Any, List

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR"]


def _positive_int(name: str, x: Any) -> int:
    if type(x) is not int:
        raise TypeError(f"{name} must be an int, not {type(x).__name__}")
    if x < 1:
        raise ValueError(f"{name} must be >= 1, not {x}")
    return x


class LRScheduler:
    """Holds the optimizer, its lr when the scheduler was made (base_lr)
    and the epoch count; a subclass gives the next lr from the current."""

    def __init__(self, optimizer: Any) -> None:
        if not hasattr(optimizer, "lr") or not hasattr(optimizer, "step"):
            raise TypeError(f"a scheduler takes a pygrad.optim optimizer, not {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._last_lr = [optimizer.lr]

    def _next_lr(self, lr: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's lr."""
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(self.optimizer.lr)
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> List[float]:
        """The lr the last step set (one per parameter group, as torch: one group)."""
        return list(self._last_lr)


class StepLR(LRScheduler):
    """lr * gamma every step_size epochs."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class CosineAnnealingLR(LRScheduler):
    """eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2,
    computed from the current lr as torch does (and rising again after T_max)."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803  (torch's name)
        self.T_max = _positive_int("T_max", T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if (t - 1 - T) % (2 * T) == 0:      # where the recursive ratio would divide by 0
            return lr + (self.base_lr - lo) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - lo) + lo

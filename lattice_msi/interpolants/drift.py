"""The drift interface: anything that maps (x, operator) to η0 = E[x0 | I = x] and η1 = E[x1 | I = x].

The Gaussian oracle, tilted drifts and trained networks all implement it, so every sampler and
task works with any of them. The identity A η0 + B η1 = x holds for an exact drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from .families import Operator


@dataclass
class Eta:
    """Conditional expectations of noise (eta0) and data (eta1) given I = x; fields (B, L, ..., L)."""

    eta0: torch.Tensor
    eta1: torch.Tensor


class Drift(Protocol):
    def __call__(self, x: torch.Tensor, op: Operator) -> Eta: ...

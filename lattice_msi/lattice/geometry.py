"""The periodic hypercubic lattice (Z_L)^d: sizes, shapes and dimension names."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

DIM_NAMES = ("x", "y", "z", "t")


@dataclass(frozen=True)
class Lattice:
    """Periodic lattice with L sites per direction in d dimensions (1 <= d <= 4).

    Fields on it are tensors of shape (B, L, ..., L) with d lattice axes after the batch axis.
    """

    L: int
    d: int = 2

    def __post_init__(self):
        if isinstance(self.L, bool) or not isinstance(self.L, int):
            raise ConfigError(f"L = {self.L!r} must be an integer")
        if isinstance(self.d, bool) or not isinstance(self.d, int):
            raise ConfigError(f"d = {self.d!r} must be an integer")
        if self.L < 2:
            raise ConfigError(f"L = {self.L} is too small: a periodic lattice needs L >= 2")
        if not 1 <= self.d <= 4:
            raise ConfigError(f"d = {self.d} is outside 1..4")

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.L,) * self.d

    @property
    def volume(self) -> int:
        return self.L**self.d

    @property
    def dims(self) -> tuple[str, ...]:
        """Names of the lattice axes, as used in ensemble files."""
        return DIM_NAMES[: self.d]

    @property
    def axes(self) -> tuple[int, ...]:
        """Tensor axes of the lattice directions in a batched field (B, L, ..., L)."""
        return tuple(range(1, self.d + 1))

    def check_field(self, phi, name: str = "phi") -> None:
        """Raise ConfigError unless phi has shape (B, L, ..., L) for this lattice."""
        if phi.dim() != self.d + 1 or tuple(phi.shape[1:]) != self.shape:
            raise ConfigError(
                f"{name} has shape {tuple(phi.shape)}, expected (B, {', '.join(map(str, self.shape))})"
            )

"""Training distributions ν over operators: each draws (x_t, operator, regression target) for a batch.

With B = Id − A the network regresses the target x0 − x1, and then (MATH.md §3)
    η0 = x + (Id − A) η̂,    η1 = x − A η̂
(`eta_from_prediction`). ν decides which tasks a model can do: scalar α ~ U[0,1] (generation),
per-site α ~ U[0,1]^V (any order), known regions with one shared α elsewhere (inpainting),
block-constant α (block orders), per-mode Fourier
α (i.i.d. per ±k pair, or the α of a random coarse-to-fine frontier: superres, multiscale),
and mixtures of these within one family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..lattice.geometry import Lattice
from .drift import Eta
from .families import Family, FourierFamily, Operator, ScalarFamily, SiteFamily, mode_reflect
from .paths import coarse_to_fine_path


@dataclass
class TrainingBatch:
    x: torch.Tensor  # I = A x0 + B x1, (B, L, ..., L)
    op: Operator  # per-sample coefficients (B, coef_shape)
    target: torch.Tensor  # x0 − x1
    nu: str  # which distribution drew it


def eta_from_prediction(x: torch.Tensor, op: Operator, pred: torch.Tensor) -> Eta:
    """η0, η1 from a prediction of E[x0 − x1 | I = x] for B = Id − A."""
    Ap = op.A(pred)
    return Eta(x + pred - Ap, x - Ap)


def _canonical_modes(lattice: Lattice) -> torch.Tensor:
    """True on one mode of every ±k pair (and on self-conjugate modes)."""
    idx = torch.arange(lattice.volume).reshape((1,) + lattice.shape)
    return (idx <= mode_reflect(idx, lattice))[0]


class Nu:
    """Base: subclasses draw α; the batch is assembled here (B = 1 − α)."""

    name = "nu"

    def __init__(self, lattice: Lattice, family: Family):
        self.lattice = lattice
        self.family = family

    def alpha(self, n: int, g: torch.Generator, dtype) -> torch.Tensor:
        raise NotImplementedError

    def draw(self, x1: torch.Tensor, g: torch.Generator) -> TrainingBatch:
        n = x1.shape[0]
        a = self.alpha(n, g, x1.dtype).to(x1.device)  # α is drawn on the generator's device (CPU)
        op = Operator(self.family, a, 1.0 - a)
        x0 = torch.randn(x1.shape, generator=g, dtype=x1.dtype, device=g.device).to(x1.device)
        return TrainingBatch(op.interpolate(x0, x1), op, x0 - x1, self.name)


class ScalarNu(Nu):
    name = "scalar"

    def __init__(self, lattice: Lattice, family: Family | None = None):
        super().__init__(lattice, family or ScalarFamily(lattice))

    def alpha(self, n, g, dtype):
        a = torch.rand((n,) + (1,) * self.lattice.d, generator=g, dtype=dtype)
        return a if isinstance(self.family, ScalarFamily) else a.expand((n,) + self.lattice.shape).clone()


class SiteNu(Nu):
    name = "site"

    def __init__(self, lattice: Lattice):
        super().__init__(lattice, SiteFamily(lattice))

    def alpha(self, n, g, dtype):
        return torch.rand((n,) + self.lattice.shape, generator=g, dtype=dtype)


class BlockNu(Nu):
    name = "block"

    def __init__(self, lattice: Lattice, block: int):
        if block < 1 or lattice.L % block:
            raise ConfigError(f"block = {block} must divide L = {lattice.L}")
        super().__init__(lattice, SiteFamily(lattice))
        self.block = block

    def alpha(self, n, g, dtype):
        nb = self.lattice.L // self.block
        a = torch.rand((n,) + (nb,) * self.lattice.d, generator=g, dtype=dtype)
        for ax in range(1, self.lattice.d + 1):
            a = a.repeat_interleave(self.block, dim=ax)
        return a


class KnownRegionNu(Nu):
    """The operators of inpainting: per sample a known region (α = 0 for the whole path) and one
    α ~ U[0,1] shared by the other sites. Regions: a slab of half the lattice (random axis and
    offset, periodic), a checkerboard (random parity), an L/2 block at a random place, or
    Bernoulli sites with a random density."""

    name = "known-region"
    KINDS = 4

    def __init__(self, lattice: Lattice):
        super().__init__(lattice, SiteFamily(lattice))

    def masks(self, n: int, g: torch.Generator) -> torch.Tensor:
        lat = self.lattice
        coords = torch.stack(torch.meshgrid(*[torch.arange(lat.L)] * lat.d, indexing="ij"))  # (d, L, ..., L)
        kind = torch.randint(0, self.KINDS, (n,), generator=g)
        axis = torch.randint(0, lat.d, (n,), generator=g)
        off = torch.randint(0, lat.L, (n, lat.d), generator=g)
        dens = 0.1 + 0.8 * torch.rand(n, generator=g, dtype=torch.float64)
        bern = torch.rand((n,) + lat.shape, generator=g, dtype=torch.float64)
        out = torch.empty((n,) + lat.shape, dtype=torch.bool)
        for i in range(n):
            shifted = (coords - off[i].view((lat.d,) + (1,) * lat.d)) % lat.L
            k = int(kind[i])
            if k == 0:
                out[i] = shifted[int(axis[i])] < lat.L // 2
            elif k == 1:
                out[i] = (coords.sum(0) + int(off[i, 0])) % 2 == 0
            elif k == 2:
                out[i] = (shifted < max(1, lat.L // 2)).all(0)
            else:
                out[i] = bern[i] < dens[i]
        return out

    def alpha(self, n, g, dtype):
        known = self.masks(n, g)
        u = torch.rand((n,) + (1,) * self.lattice.d, generator=g, dtype=dtype)
        return torch.where(known, torch.zeros((), dtype=dtype), u.expand((n,) + self.lattice.shape))


class ModeNu(Nu):
    """Per-mode α, per sample one of: the α of a random coarse-to-fine frontier (p_frontier);
    a band (p_band: the modes below a random |k̂| rank are data, α = 0, the others share one
    α ~ U[0,1] — the operators of super-resolution); else i.i.d. per ±k pair."""

    name = "mode"

    def __init__(self, lattice: Lattice, p_frontier: float = 0.4, p_band: float = 0.3, overlap: float = 2.0):
        super().__init__(lattice, FourierFamily(lattice))
        if not (0.0 <= p_frontier and 0.0 <= p_band and p_frontier + p_band <= 1.0):
            raise ConfigError(f"p_frontier = {p_frontier}, p_band = {p_band} must be >= 0 with a sum <= 1")
        self.p_frontier, self.p_band = p_frontier, p_band
        self.path = coarse_to_fine_path(lattice, overlap=overlap)
        self.canon = _canonical_modes(lattice)
        from .paths import mode_rank

        self.rank = mode_rank(lattice)

    def alpha(self, n, g, dtype):
        u = torch.rand((n,) + self.lattice.shape, generator=g, dtype=dtype)
        iid = torch.where(self.canon, u, mode_reflect(u, self.lattice))
        t = torch.rand(n, generator=g, dtype=torch.float64)
        kind = torch.rand(n, generator=g, dtype=torch.float64)
        front = torch.stack([self.path.alpha(float(tt)) for tt in t]).to(dtype)
        cut = torch.randint(0, int(self.rank.max()) + 1, (n,), generator=g)
        level = torch.rand(n, generator=g, dtype=dtype)
        view = (n,) + (1,) * self.lattice.d
        band = torch.where(self.rank[None] < cut.view(view), torch.zeros((), dtype=dtype), level.view(view).expand((n,) + self.lattice.shape))
        out = torch.where((kind < self.p_frontier).view(view), front, iid)
        return torch.where(((kind >= self.p_frontier) & (kind < self.p_frontier + self.p_band)).view(view), band, out)


class MixtureNu(Nu):
    """Per-sample choice among components of one family (scalar components are promoted)."""

    name = "mixture"

    def __init__(self, components: list[tuple[Nu, float]]):
        if not components:
            raise ConfigError("a mixture needs at least one component")
        fams = {type(c.family) for c, _ in components if not isinstance(c.family, ScalarFamily)}
        if len(fams) > 1:
            raise ConfigError(f"mixture components mix families {sorted(f.__name__ for f in fams)}: use one family per model")
        lat = components[0][0].lattice
        fam = next((c.family for c, _ in components if not isinstance(c.family, ScalarFamily)), components[0][0].family)
        super().__init__(lat, fam)
        w = torch.tensor([float(wt) for _, wt in components], dtype=torch.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise ConfigError(f"mixture weights {w.tolist()} must be non-negative with a positive sum")
        self.components = [c for c, _ in components]
        self.weights = w / w.sum()

    def alpha(self, n, g, dtype):
        which = torch.multinomial(self.weights, n, replacement=True, generator=g)
        out = torch.empty((n,) + self.family.coef_shape, dtype=dtype)
        for i, comp in enumerate(self.components):
            a = comp.alpha(n, g, dtype)
            out = torch.where((which == i).view((n,) + (1,) * self.lattice.d), a.expand_as(out), out)
        return out

    def draw(self, x1, g):
        b = super().draw(x1, g)
        b.nu = "mixture"
        return b

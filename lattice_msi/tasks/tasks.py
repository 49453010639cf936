"""Task builders (MATH.md §3–6). Known components have α = 0, β = 1 for the whole path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ..errors import ConfigError
from ..interpolants import paths as P
from ..interpolants.multiscale import low_mode_mask, prolong
from ..interpolants.tilts import TiltedDrift
from ..lattice.fourier import fft, ifft
from ..lattice.geometry import Lattice
from ..sampling import SampleResult, sample
from ..sampling.density import DensityResult, sample_with_density


@dataclass
class Task:
    name: str
    path: P.WindowPath
    init: Callable[[int, torch.Generator, torch.dtype], torch.Tensor]
    params: dict = field(default_factory=dict)
    fixed: tuple[torch.Tensor, torch.Tensor] | None = None
    tilt: dict | None = None  # kwargs of TiltedDrift
    eps: float | str = 0.0  # default noise level of the SDE
    white_init: bool = True  # the initial state is white noise on the free sites (a known density)

    def drift_for(self, drift):
        return drift if self.tilt is None else TiltedDrift(drift, **self.tilt)

    def run(
        self,
        drift,
        n: int,
        generator: torch.Generator,
        steps: int = 64,
        method: str = "heun",
        eps: float | str | None = None,
        dtype=torch.float64,
        device=None,
    ) -> SampleResult:
        """n samples: initial state from the task (drawn from `generator`), then the sampler along
        its path on `device` (default: the generator's)."""
        x0 = self.init(n, generator, dtype).to(device or generator.device)
        fixed = None
        if self.fixed is not None:
            mask, values = self.fixed
            fixed = (mask.to(x0.device), values.to(dtype=dtype, device=x0.device).expand_as(x0))
        e = self.eps if eps is None else eps
        if self.eps == "localization" and (method != "em" or e != "localization"):
            raise ConfigError(f"task {self.name!r} conditions on a noisy observation: it needs method = 'em' with eps = 'localization'")
        return sample(self.drift_for(drift), self.path, x0, self.path.grid(steps), method, e, generator, fixed)

    def _fixed(self, x0):
        if self.fixed is None:
            return None
        mask, values = self.fixed
        return mask.to(x0.device), values.to(dtype=x0.dtype, device=x0.device)

    def calibrate_shift(self, drift, n: int, generator: torch.Generator, steps: int = 64, method: str = "heun", dtype=torch.float64, device=None):
        """The tilt's mean-matching shift estimated on n samples of their own (None: the task has none)."""
        if self.tilt is None:
            return None
        with torch.no_grad():
            return self.run(drift, n, generator, steps=steps, method=method, dtype=dtype, device=device).shift

    def run_with_density(self, drift, n: int, generator: torch.Generator, steps: int = 64, method: str = "heun",
                         logdet: str = "exact", shift=None, dtype=torch.float64, device=None, **kw) -> DensityResult:
        """n samples with the log-density of the map that produced them (see sampling.density).

        A tilt with mean matching needs `shift` from calibrate_shift on a separate batch.
        """
        if not self.white_init:
            raise ConfigError(f"task {self.name!r} starts from a law whose density is not tracked here; the density needs a start from white noise")
        x0 = self.init(n, generator, dtype).to(device or generator.device)
        return sample_with_density(self.drift_for(drift), self.path, x0, self.path.grid(steps), method, self._fixed(x0), shift,
                                   logdet, generator=generator, **kw)


def _noise(lattice: Lattice):
    def init(n, g, dtype):
        return torch.randn((n,) + lattice.shape, generator=g, dtype=dtype)

    return init


def generate(lattice: Lattice, schedule: str = "linear") -> Task:
    """Plain generation from noise along α_t = schedule(t)."""
    return Task("generate", P.generation_path(lattice, schedule), _noise(lattice), {"schedule": schedule})


def any_order(lattice: Lattice, order: str = "raster", generator: torch.Generator | None = None, block: int = 2, overlap: float = 1.0) -> Task:
    """Sites revealed one group at a time: order = raster (autoregressive), random or block."""
    if order == "raster":
        rank = P.raster_rank(lattice)
    elif order == "random":
        if generator is None:
            raise ConfigError("order = 'random' needs a torch.Generator")
        rank = P.random_rank(lattice, generator)
    elif order == "block":
        rank = P.block_rank(lattice, block)
    else:
        raise ConfigError(f"order = {order!r} is not one of raster, random, block")
    return Task(f"any-order:{order}", P.site_order_path(lattice, rank, overlap), _noise(lattice), {"order": order, "overlap": overlap})


def coarse_to_fine(lattice: Lattice, overlap: float = 1.0) -> Task:
    """Fourier modes revealed in order of |k̂| (coarse first)."""
    return Task("coarse-to-fine", P.coarse_to_fine_path(lattice, overlap), _noise(lattice), {"overlap": overlap})


def inpaint(lattice: Lattice, mask: torch.Tensor, observed: torch.Tensor) -> Task:
    """Sites where mask is True are held at `observed` (L, ..., L); the rest are generated."""
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if tuple(mask.shape) != lattice.shape or tuple(observed.shape) != lattice.shape:
        raise ConfigError(f"mask {tuple(mask.shape)} and observed {tuple(observed.shape)} must both be {lattice.shape}")
    if not torch.isfinite(observed).all():
        raise ConfigError("observed field contains non-finite values")
    path = P.site_generation_path(lattice, known=mask)

    def init(n, g, dtype):
        z = torch.randn((n,) + lattice.shape, generator=g, dtype=dtype)
        return torch.where(mask, observed.to(dtype), z)

    return Task("inpaint", path, init, {"n_known": int(mask.sum())}, fixed=(mask, observed))


def superres(fine: Lattice, coarse_field: torch.Tensor, mode_order: bool = True) -> Task:
    """Fine samples whose modes |n_μ| < L/4 equal those of the prolonged coarse field(s).

    coarse_field: (L/2, ...) or (n, L/2, ...). The remaining (high) modes are generated,
    coarse to fine when mode_order, else all together.
    """
    coarse = Lattice(fine.L // 2, fine.d)
    cf = coarse_field if coarse_field.dim() == fine.d + 1 else coarse_field[None]
    if tuple(cf.shape[1:]) != coarse.shape:
        raise ConfigError(f"coarse field has shape {tuple(coarse_field.shape)}, expected (n, {coarse.L}, ...)")
    known = low_mode_mask(fine)
    path = P.coarse_to_fine_path(fine, known=known) if mode_order else P.fourier_generation_path(fine, known=known)

    def init(n, g, dtype):
        y = prolong(cf.to(dtype), coarse)
        if y.shape[0] not in (1, n):
            raise ConfigError(f"{y.shape[0]} coarse fields for {n} samples")
        z = torch.randn((n,) + fine.shape, generator=g, dtype=dtype)
        zh = fft(z, fine) * (~known)
        return ifft(zh, fine) + y.expand((n,) + fine.shape)

    return Task("superres", path, init, {"coarse_L": coarse.L, "mode_order": mode_order}, white_init=False)


def deblur(lattice: Lattice, observed: torch.Tensor, g_k: torch.Tensor, sigma: float) -> Task:
    """Posterior samples of x₁ given y = G x₁ + σ z, G Fourier-diagonal with g_k > 0 (even).

    y is the interpolant at the per-mode operator (a, b) = (σ, g)/(σ + g), so the task starts
    there from X = F*(ŷ/(σ+g)) and runs the stochastic-localization SDE to the data end.
    """
    g_k = torch.as_tensor(g_k, dtype=torch.float64).reshape(lattice.shape)
    if sigma <= 0 or (g_k <= 0).any():
        raise ConfigError(f"deblur needs sigma > 0 (got {sigma}) and g_k > 0 on every mode")
    a0 = sigma / (sigma + g_k)
    fam_path = P.fourier_generation_path(lattice)
    path = P.WindowPath(fam_path.family, fam_path.start, fam_path.end, "linear", None, alpha_start=a0)

    def init(n, g, dtype):
        y = observed if observed.dim() == lattice.d + 1 else observed[None]
        x = ifft(fft(y.to(torch.float64), lattice) / (sigma + g_k), lattice)
        return x.expand((n,) + lattice.shape).to(dtype).clone()

    return Task("deblur", path, init, {"sigma": sigma}, eps="localization", white_init=False)


def posterior(lattice: Lattice, h, b_min: float = 0.05, schedule: str = "linear") -> Task:
    """Generation under an external field h (uniform or a field): a linear tilt of the drift."""
    t = generate(lattice, schedule)
    t.name, t.tilt = "posterior", {"h": h, "b_min": b_min, "start": "late"}
    t.params = {"h": float(torch.as_tensor(h).mean()), "b_min": b_min, "schedule": schedule}
    return t


def mass_shift(lattice: Lattice, c: float, h=0.0, b_min: float = 0.05, start: str | None = None) -> Task:
    """Generation at m² + c (action term + c Σφ²): quadratic tilt q = −2c (valid everywhere for c > 0)."""
    t = generate(lattice)
    t.name, t.tilt = "mass-shift", {"q": -2.0 * c, "h": h, "b_min": b_min, "start": start}
    t.params = {"c": c, "h": float(torch.as_tensor(h).mean())}
    return t


def coarse_generation(coarse: Lattice) -> Task:
    """Generation on the coarse lattice of a multiscale pair: Fourier path (coarse to fine) with
    the coarse Nyquist modes, which restricted fields never populate, held at zero."""
    from ..interpolants.multiscale import coarse_nyquist_mask

    known = coarse_nyquist_mask(coarse)
    path = P.coarse_to_fine_path(coarse, known=known)

    def init(n, g, dtype):
        z = torch.randn((n,) + coarse.shape, generator=g, dtype=dtype)
        return ifft(fft(z, coarse) * (~known), coarse)

    return Task("coarse-generation", path, init, {"L": coarse.L}, white_init=False)


def multiscale_generate(coarse_drift, fine_drift, fine: Lattice, n: int, generator: torch.Generator, steps: int = 16, method: str = "heun", dtype=torch.float64):
    """Coarse generation at L/2 with the coarse model, then super-resolution at L with the fine one."""
    coarse = Lattice(fine.L // 2, fine.d)
    xc = coarse_generation(coarse).run(coarse_drift, n, generator, steps=steps, method=method, dtype=dtype).x
    return superres(fine, xc).run(fine_drift, n, generator, steps=steps, method=method, dtype=dtype)

"""One integration loop for every task: ODE (Euler, Heun) and SDE (Euler–Maruyama) along a path.

    ODE:  dX = Ȧ η0(X) dt + Ḃ η1(X) dt
    SDE:  dX = [Ȧ η0 + Ḃ η1 − E_t A η0] dt + √(2 E_t) A dW    (same marginals for any E_t ≥ 0)

Methods: "euler", "heun" (ODE, orders 1 and 2), "em" (Euler–Maruyama, weak order 1) and
"sde-heun" (stochastic Heun with the trapezoidal noise variance, weak order 2 for this
additive noise; the same Gaussian increment in predictor and corrector).

Steps use the exact increments ΔA = A_{t'} − A_t, ΔB of the path between grid points, so a
non-linear schedule is integrated in its own variable. E_t is diagonal in the family basis:
a constant, a function of t, or "localization", E_t = d/dt ln(β_t/α_t) per component, which
makes the SDE the stochastic-localization process: started at X_{t0} = y it ends in a sample
of x₁ | I_{t0} = y (posterior sampling, e.g. deblurring). Components with α = 0 (known) never
move. A drift with `valid(op)` (a tilt) is used only where valid; before that its `base` drift
is used (start="late") or the sampler refuses (start="refuse"); at the switch the state is
mean-matched to the tilted marginal (see switch_shift) when the tilt has match_mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import ConfigError
from ..interpolants.paths import WindowPath
from ..interpolants.tilts import TiltDomainError

METHODS = ("euler", "heun", "em", "sde-heun")


@dataclass
class SampleResult:
    x: torch.Tensor  # (B, L, ..., L) at the end of the path
    n_evals: int  # drift evaluations
    t_switch: float | None  # where a tilt started to be used (None: no tilt or from the start)
    shift: torch.Tensor | None = None  # the mean-matching shift applied at the switch, (1, L, ..., L)


MEAN_MATCH_ITERATIONS = 4


def switch_shift(drift, x, op) -> torch.Tensor:
    """The shift B (m_r − m), (1, L, ..., L), added to X at the switch from the untilted to the tilted drift.

    Up to the switch X follows the untilted marginal ρ_t; the tilted one ρʳ_t differs, at small
    β, mainly by the mean β (E_r[x₁] − E[x₁]) (exactly so for a Gaussian with a linear tilt).
    m = batch mean of η1(X); m_r solves m_r = batch mean of η1ʳ(X + B(m_r − m)), a contraction
    at small β iterated a few times. η1 is nearly constant at small β, so small batches suffice.
    """
    fam = op.family
    m = drift.base(x, op).eta1.mean(0, keepdim=True)
    m_r = m
    for _ in range(MEAN_MATCH_ITERATIONS):
        m_r = drift(x + fam.apply(op.b, m_r - m), op).eta1.mean(0, keepdim=True)
    return fam.apply(op.b, m_r - m)


def _use_tilt(drift, op, t, state) -> bool:
    """Whether the (tilted) drift is used for the step starting at op; refuses where required."""
    valid = getattr(drift, "valid", None)
    if valid is None:
        return True
    if valid(op):
        return True
    if getattr(drift, "start", "refuse") == "refuse":
        raise TiltDomainError(
            f"tilt is not valid at t = {t:.4g} (needs beta^2/alpha^2 - q >= {drift.p_min:.3g} on every component); "
            "it is refused rather than extrapolated — start the path later or use start='late'"
        )
    if state["t_switch"] is not None:
        raise TiltDomainError(f"tilt became invalid again at t = {t:.4g}")
    return False


@dataclass
class Step:
    """One step of the loop: from op (time t) to op2 (time t2), with the drift to use there."""

    n: int
    t: float
    t2: float
    op: object
    op2: object
    da: torch.Tensor
    db: torch.Tensor
    drift: object
    switch: bool  # the tilted drift starts here after untilted steps (mean-matching point)


def steps(drift, path: WindowPath, grid: torch.Tensor, dtype, device, state: dict):
    """The steps of a path along a grid, with the tilt switching rule (shared by every sampler)."""
    for n in range(len(grid) - 1):
        t, t2 = float(grid[n]), float(grid[n + 1])
        op, op2 = path.op(t, dtype, device), path.op(t2, dtype, device)
        d, switch = drift, False
        if hasattr(drift, "valid"):
            if _use_tilt(drift, op, t, state):
                if state["t_switch"] is None:
                    state["t_switch"] = t
                    switch = n > 0 and getattr(drift, "match_mean", False)
            else:
                d = drift.base
        yield Step(n, t, t2, op, op2, op2.a - op.a, op2.b - op.b, d, switch)


def ode_step(st: Step, fam, x: torch.Tensor, method: str) -> torch.Tensor:
    """The deterministic map of one Euler or Heun step, x ↦ x' (what the density differentiates)."""
    e = st.drift(x, st.op)
    inc = fam.apply2(st.da, e.eta0, st.db, e.eta1)
    if method == "heun":  # validity only grows along a path, so the corrector may use the same drift
        e2 = st.drift(x + inc, st.op2)
        return x + 0.5 * (inc + fam.apply2(st.da, e2.eta0, st.db, e2.eta1))
    return x + inc


def check_grid(grid) -> torch.Tensor:
    grid = torch.as_tensor(grid, dtype=torch.float64)
    if grid.dim() != 1 or len(grid) < 2 or (grid[1:] <= grid[:-1]).any():
        raise ConfigError("grid must be a strictly increasing 1D sequence of at least 2 times")
    return grid


def sample(
    drift,
    path: WindowPath,
    x_init: torch.Tensor,
    grid: torch.Tensor,
    method: str = "heun",
    eps: float | Callable[[float], float] | str = 0.0,
    generator: torch.Generator | None = None,
    fixed: tuple[torch.Tensor, torch.Tensor] | None = None,
    shift: torch.Tensor | None = None,
) -> SampleResult:
    """Integrate X from grid[0] to grid[-1] along path, starting at x_init (B, L, ..., L).

    fixed: optional (mask, values) of sites held bit-for-bit at `values` (site-basis tasks).
    shift: the mean-matching shift at a tilt's switch, if already known (a fixed map for every
    batch, as the exact density needs); None: estimated from this batch.
    """
    if method not in METHODS:
        raise ConfigError(f"method = {method!r} is not one of {', '.join(METHODS)}")
    if method in ("em", "sde-heun") and generator is None:
        raise ConfigError(f"the SDE (method = {method!r}) needs an explicit torch.Generator")
    if eps == "localization" and method != "em":
        raise ConfigError(f"eps = 'localization' needs method = 'em', not {method!r}")
    if not torch.isfinite(x_init).all():
        raise ConfigError("x_init contains non-finite values")
    grid = check_grid(grid)
    if method in ("em", "sde-heun") and torch.device(generator.device).type != x_init.device.type:
        raise ConfigError(f"the SDE draws its noise on {x_init.device}: give it a generator there, not on {generator.device}")
    fam = path.family
    x = x_init.clone()
    dtype, dev = x.dtype, x.device
    state = {"t_switch": None}
    n_evals = 0
    used_shift = None

    def step_vec(d, xx, op, da, db):
        e = d(xx, op)
        return fam.apply2(da, e.eta0, db, e.eta1), e

    for st in steps(drift, path, grid, dtype, dev, state):
        t, t2, op, op2, da, db, d = st.t, st.t2, st.op, st.op2, st.da, st.db, st.drift
        if st.switch:
            if shift is None:
                used_shift = switch_shift(drift, x, op)
                n_evals += 1 + MEAN_MATCH_ITERATIONS
            else:
                used_shift = shift.to(dtype=dtype, device=dev)
            x = x + used_shift
        if method in ("euler", "heun"):
            x = ode_step(st, fam, x, method)
            n_evals += 1 if method == "euler" else 2
        elif method == "em":
            inc, e = step_vec(d, x, op, da, db)
            n_evals += 1
            E_dt = _eps_dt(eps, path, op, op2, t, t2)
            if E_dt is None:  # final localization step onto the data end: the denoiser
                x = fam.apply(op2.b, e.eta1) + fam.apply(op2.a, x)
            else:
                xi = torch.randn(x.shape, generator=generator, dtype=dtype, device=dev)
                noise = fam.apply(torch.sqrt(2.0 * E_dt) * op.a, xi)
                x = x + inc - fam.apply(E_dt * op.a, e.eta0) + noise
        else:  # sde-heun, stochastic Heun: weak order 2 for this additive noise
            inc, e = step_vec(d, x, op, da, db)
            n_evals += 1
            E_dt = _eps_dt(eps, path, op, op2, t, t2)
            xi = torch.randn(x.shape, generator=generator, dtype=dtype, device=dev)
            noise = fam.apply(torch.sqrt(E_dt * (op.a * op.a + op2.a * op2.a)), xi)
            f1 = inc - fam.apply(E_dt * op.a, e.eta0)
            inc2, e2 = step_vec(d, x + f1 + noise, op2, da, db)
            n_evals += 1
            f2 = inc2 - fam.apply(E_dt * op2.a, e2.eta0)
            x = x + 0.5 * (f1 + f2) + noise
        if fixed is not None:
            mask, values = fixed
            x = torch.where(mask, values, x)
    return SampleResult(x, n_evals, state["t_switch"], used_shift)


def _eps_dt(eps, path, op, op2, t, t2):
    """E_t · dt per component for one step (tensor broadcastable to the coefficients)."""
    if isinstance(eps, str):
        if eps != "localization":
            raise ConfigError(f"eps = {eps!r}: use a number, a function of t, or 'localization'")
        a, b, a2, b2 = op.a, op.b, op2.a, op2.b
        if (a2 == 0).any() and ((a2 == 0) & (a > 0)).any():
            return None
        # Δ ln(β/α); components that are not moving (α = 0 known, or β = 0 not started) get 0
        ok = (a > 0) & (b > 0) & (a2 > 0)
        val = torch.log(b2.clamp_min(1e-300) / a2.clamp_min(1e-300)) - torch.log(b.clamp_min(1e-300) / a.clamp_min(1e-300))
        return torch.where(ok, val, torch.zeros_like(val))
    e = eps(t) if callable(eps) else eps
    e = float(e)
    if not math.isfinite(e) or e < 0:
        raise ConfigError(f"eps = {e} must be a finite number >= 0")
    return torch.full_like(op.a, e * (t2 - t))

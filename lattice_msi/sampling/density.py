"""The log-density of each sample under the discretised map that produced it.

A deterministic integrator (Euler or Heun) is a map X_0 ↦ X_N = f_N ∘ … ∘ f_1 (X_0), each step
f_n(x) = x + Δ_n(x) the very function `integrators.ode_step` applies. With X_0 drawn from a
known law q_0 (white noise on the generated components), the change of variables gives

    log q(X_N) = log q_0(X_0) − Σ_n log |det ∂f_n/∂x (X_{n−1})|

exactly, for the discretised map rather than the ideal ODE: this is the density that makes
importance weights and independence Metropolis exact whatever the drift's quality.

log det per step:
- "exact": the full Jacobian on the generated components by forward-mode AD (one JVP per
  component, vmapped over the directions so the primal pass runs once; at most `max_batch`
  tangent configurations in flight), then slogdet in float64.
  Cost: V_free forward passes per step; for V up to a few hundred.
- "hutchinson": log det(I + K) = Σ_k (−1)^{k+1} tr(K^k)/k, K = J − I, truncated at `order`
  terms, each trace estimated with `probes` Rademacher vectors (order JVPs per probe). The
  estimate of log q is unbiased per term but noisy (its standard error is returned per sample)
  and truncated; e^{−log q} is then biased by about e^{σ²/2} per configuration, so reweighting
  with it is consistent only as σ → 0. Use "exact" where V allows; check σ ≪ 1 otherwise.

Fixed sites (inpainting) are not generated: the density is over the free sites only. A tilt's
mean-matching shift must be a given constant (calibrated on another batch), so that every
sample goes through the same map; a shift is a translation and adds nothing to log det.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..interpolants.paths import WindowPath
from .integrators import check_grid, ode_step, steps

LOGDETS = ("exact", "hutchinson")


@dataclass
class DensityResult:
    x: torch.Tensor  # (B, L, ..., L) the samples
    log_q: torch.Tensor  # (B,) float64 log-density of the map's output (free sites)
    log_q_err: torch.Tensor | None  # (B,) standard error of a stochastic estimate (None: exact)
    n_free: int  # dimension the density lives on
    n_folded: int  # step Jacobians with det ≤ 0 met (0 for a healthy flow)
    t_switch: float | None


def white_noise_log_density(x0: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """log N(x0; 0, I) over the free sites, per sample (float64)."""
    z = x0.double().flatten(1)[:, free]
    return -0.5 * (z * z).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def _exact_logdet(f, x: torch.Tensor, free: torch.Tensor, max_batch: int):
    """(f(x), log|det J_free|, n with det ≤ 0) for a per-sample map f, J by one JVP per free site.

    torch.func: the JVPs are vmapped over the tangent directions only, so the primal pass runs
    once per chunk of samples and only the tangent pass is repeated per direction.
    """
    from torch.func import jvp, vmap

    B, shape, V, Vf = x.shape[0], x.shape[1:], x[0].numel(), len(free)
    chunk = max(1, max_batch // Vf)
    ys, lds, folded = [], [], 0
    eye = torch.zeros(Vf, V, dtype=x.dtype, device=x.device)
    eye[torch.arange(Vf), free] = 1.0
    eye = eye.view((Vf, 1) + tuple(shape))
    for s in range(0, B, chunk):
        xc = x[s : s + chunk]
        c = xc.shape[0]
        y, jt = vmap(lambda v: jvp(f, (xc,), (v,)), in_dims=0, out_dims=(None, 0))(eye.expand((Vf, c) + tuple(shape)))
        J = jt.reshape(Vf, c, V).transpose(0, 1)[:, :, free].double()  # J[b, j, i] = ∂y_i/∂x_j: det is that of J
        sign, ld = torch.linalg.slogdet(J)
        folded += int((sign <= 0).sum())
        ys.append(y)
        lds.append(ld)
    return torch.cat(ys), torch.cat(lds), folded


def _hutchinson_logdet(f, x, free, probes: int, order: int, generator, max_batch: int):
    """(f(x), estimate of log det(I + K), its standard error) with Rademacher probes
    (JVPs vmapped over the probes, the primal pass once per chunk)."""
    from torch.func import jvp, vmap

    B, shape, V = x.shape[0], x.shape[1:], x[0].numel()
    chunk = max(1, max_batch // probes)
    ys, est, err = [], [], []
    for s in range(0, B, chunk):
        xc = x[s : s + chunk]
        c = xc.shape[0]
        v = torch.zeros(probes, c, V, dtype=x.dtype, device=x.device)
        r = torch.randint(0, 2, (probes, c, len(free)), generator=generator, device=generator.device).to(x.device)
        v[:, :, free] = (2 * r - 1).to(x.dtype)
        v = v.view((probes, c) + tuple(shape))
        step = vmap(lambda t: jvp(f, (xc,), (t,)), in_dims=0, out_dims=(None, 0))
        w, total = v, torch.zeros(probes, c, dtype=torch.float64, device=x.device)
        for k in range(1, order + 1):
            y, jw = step(w)
            w = jw - w  # K w
            total += ((-1) ** (k + 1) / k) * (v * w).flatten(2).double().sum(2)
        est.append(total.mean(0))
        err.append(total.std(0) / math.sqrt(probes) if probes > 1 else torch.full((c,), float("nan"), dtype=torch.float64))
        ys.append(y)
    return torch.cat(ys), torch.cat(est), torch.cat(err)


def sample_with_density(
    drift,
    path: WindowPath,
    x_init: torch.Tensor,
    grid,
    method: str = "heun",
    fixed: tuple[torch.Tensor, torch.Tensor] | None = None,
    shift: torch.Tensor | None = None,
    logdet: str = "exact",
    probes: int = 4,
    order: int = 6,
    generator: torch.Generator | None = None,
    max_batch: int = 4096,
    init_log_density=None,
) -> DensityResult:
    """Run the deterministic sampler from x_init and return its samples with their log q.

    init_log_density(x_init) → (B,) log q_0; default: white noise on the free sites.
    """
    if method not in ("euler", "heun"):
        raise ConfigError(f"the density needs a deterministic map: method = {method!r} is not euler or heun")
    if logdet not in LOGDETS:
        raise ConfigError(f"logdet = {logdet!r} is not one of {', '.join(LOGDETS)}")
    if logdet == "hutchinson":
        if generator is None:
            raise ConfigError("logdet = 'hutchinson' needs an explicit torch.Generator for its probes")
        if probes < 1 or order < 1:
            raise ConfigError(f"hutchinson needs probes >= 1 and order >= 1, got {probes} and {order}")
    if max_batch < 1:
        raise ConfigError(f"max_batch = {max_batch} must be >= 1")
    if not torch.isfinite(x_init).all():
        raise ConfigError("x_init contains non-finite values")
    grid = check_grid(grid)
    fam = path.family
    x = x_init.clone()
    dtype, dev = x.dtype, x.device
    shape = x.shape[1:]
    if fixed is not None:
        mask, values = fixed
        mask = mask.to(dev).reshape(shape)
        values = values.to(dtype=dtype, device=dev).reshape((-1,) + tuple(shape))[:1]
        free = torch.nonzero(~mask.flatten()).flatten()
    else:
        mask = values = None
        free = torch.arange(x[0].numel(), device=dev)
    if len(free) == 0:
        raise ConfigError("every site is fixed: there is nothing to generate")
    log_q = (white_noise_log_density(x, free) if init_log_density is None else init_log_density(x).double()).to(dev)
    var = torch.zeros_like(log_q) if logdet == "hutchinson" else None
    state = {"t_switch": None}
    folded = 0
    for st in steps(drift, path, grid, dtype, dev, state):
        if st.switch:
            if shift is None:
                raise ConfigError("the tilt switches here with mean matching: its shift must be given (calibrate it on a separate batch)")
            x = x + shift.to(dtype=dtype, device=dev)

        def f(z, st=st):
            out = ode_step(st, fam, z, method)
            return out if mask is None else torch.where(mask, values, out)

        with torch.no_grad():
            if logdet == "exact":
                x, ld, nf = _exact_logdet(f, x, free, max_batch)
                folded += nf
            else:
                x, ld, e = _hutchinson_logdet(f, x, free, probes, order, generator, max_batch)
                var += e * e
        log_q = log_q - ld
    err = None if var is None else var.sqrt()
    return DensityResult(x, log_q, err, len(free), folded, state["t_switch"])

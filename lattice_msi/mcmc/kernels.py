"""Fused HMC trajectories: the whole integrator (every drift and kick with the φ⁴ force) as one
torch.compile graph, so that each step is one or two generated loops over the lattice instead of
a dozen separate tensor operations. CPU (C++/OpenMP) and CUDA (Triton), float32 and float64.

The arithmetic is that of `Phi4Action.force` and `HMC.integrate` (same order of kicks and
drifts), so the trajectory agrees with the eager one to rounding. Step size and couplings are
0-dim tensors, so a new ε (step-size tuning) does not recompile; a new (d, integrator, n_steps,
dtype, device, shape) does, once.
"""

from __future__ import annotations

import torch

from .hmc import OMELYAN_LAMBDA

_CACHE: dict = {}


def _force(phi, d: int, mass2, lam4, h):
    nb = torch.roll(phi, 1, 1) + torch.roll(phi, -1, 1)
    for a in range(2, d + 1):
        nb = nb + torch.roll(phi, 1, a) + torch.roll(phi, -1, a)
    return 2.0 * nb - mass2 * phi - lam4 * (phi * phi * phi) + h


def _leapfrog(phi, p, eps, mass2, lam4, h, d: int, n: int):
    p = p + (0.5 * eps) * _force(phi, d, mass2, lam4, h)
    for i in range(n):
        phi = phi + eps * p
        p = p + (eps if i < n - 1 else 0.5 * eps) * _force(phi, d, mass2, lam4, h)
    return phi, p


def _omelyan(phi, p, eps, mass2, lam4, h, d: int, n: int):
    lam = OMELYAN_LAMBDA
    phi = phi + (lam * eps) * p
    for i in range(n):
        p = p + (0.5 * eps) * _force(phi, d, mass2, lam4, h)
        phi = phi + ((1.0 - 2.0 * lam) * eps) * p
        p = p + (0.5 * eps) * _force(phi, d, mass2, lam4, h)
        phi = phi + ((2.0 * lam if i < n - 1 else lam) * eps) * p
    return phi, p


def fused_trajectory(integrator: str, d: int, n_steps: int):
    """Compiled (phi, p, eps, mass2, lam4, h) → (phi', p') for one trajectory of n_steps."""
    key = (integrator, d, n_steps)
    if key not in _CACHE:
        body = _leapfrog if integrator == "leapfrog" else _omelyan

        def run(phi, p, eps, mass2, lam4, h):
            return body(phi, p, eps, mass2, lam4, h, d, n_steps)

        _CACHE[key] = torch.compile(run, dynamic=False, fullgraph=True)
    return _CACHE[key]


CPU_BLOCK_BYTES = 1 << 22  # chains per compiled call on the CPU: about 4 MB per field, cache-sized


def integrate_fused(action, integrator: str, phi: torch.Tensor, p: torch.Tensor, step_size: float, n_steps: int) -> None:
    """In place on (phi, p), like HMC.integrate, through the compiled trajectory.

    On the CPU the chains go through in blocks of about CPU_BLOCK_BYTES per field: all n_steps of
    a block then run in cache, and no buffer is large enough to be mmap-ed afresh on every call.
    """
    c = action.couplings
    t = lambda v: torch.tensor(v, dtype=phi.dtype, device=phi.device)  # noqa: E731
    fn = fused_trajectory(integrator, action.lattice.d, n_steps)
    args = (t(float(step_size)), t(2.0 * (2 * action.lattice.d + c.m2)), t(4.0 * c.lam), t(c.h))
    B = phi.shape[0]
    block = B if phi.device.type != "cpu" else max(1, CPU_BLOCK_BYTES // (phi[0].numel() * phi.element_size()))
    for s in range(0, B, block):
        x, q = fn(phi[s : s + block], p[s : s + block], *args)
        phi[s : s + block].copy_(x)
        p[s : s + block].copy_(q)

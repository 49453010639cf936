"""Fused HMC trajectories: the whole integrator (every drift and kick with the φ⁴ force) as one
torch.compile graph, so that each step is one or two generated loops over the lattice instead of
a dozen separate tensor operations. CPU (C++/OpenMP) and CUDA (Triton), float32 and float64.

Layout. On chains-last fields (mcmc.layout: memory order (L, ..., L, B)) the generated loops run
over chains innermost: every neighbour access is a contiguous vector load (no index wrap inside
a vector), about twice as fast on the CPU as the chains-first order. `run_ensemble` keeps its
fields chains-last for kernel="compiled".

The arithmetic is that of `Phi4Action.force` and `HMC.integrate` (same order of kicks and
drifts), so the trajectory agrees with the eager one to rounding. Step size and couplings are
0-dim tensors, so a new ε (step-size tuning) does not recompile; a new (d, integrator, n_steps,
dtype, device, shape) does, once.
"""

from __future__ import annotations

import torch

from .hmc import OMELYAN_LAMBDA
from .layout import is_chains_last, storage, to_chains_last  # noqa: F401  (to_chains_last: re-exported)

_CACHE: dict = {}


def _force(phi, dims, mass2, lam4, h):
    nb = torch.roll(phi, 1, dims[0]) + torch.roll(phi, -1, dims[0])
    for a in dims[1:]:
        nb = nb + torch.roll(phi, 1, a) + torch.roll(phi, -1, a)
    return 2.0 * nb - mass2 * phi - lam4 * (phi * phi * phi) + h


def _leapfrog(phi, p, eps, mass2, lam4, h, dims, n: int):
    p = p + (0.5 * eps) * _force(phi, dims, mass2, lam4, h)
    for i in range(n):
        phi = phi + eps * p
        p = p + (eps if i < n - 1 else 0.5 * eps) * _force(phi, dims, mass2, lam4, h)
    return phi, p


def _omelyan(phi, p, eps, mass2, lam4, h, dims, n: int):
    lam = OMELYAN_LAMBDA
    phi = phi + (lam * eps) * p
    for i in range(n):
        p = p + (0.5 * eps) * _force(phi, dims, mass2, lam4, h)
        phi = phi + ((1.0 - 2.0 * lam) * eps) * p
        p = p + (0.5 * eps) * _force(phi, dims, mass2, lam4, h)
        phi = phi + ((2.0 * lam if i < n - 1 else lam) * eps) * p
    return phi, p


def fused_trajectory(integrator: str, d: int, n_steps: int, chains_last: bool = False):
    """Compiled (phi, p, eps, mass2, lam4, h) → (phi', p') for one trajectory of n_steps.

    Chains-first: phi is (B, L, ..., L) contiguous; chains-last: phi is the (L, ..., L, B) storage."""
    key = (integrator, d, n_steps, chains_last)
    if key not in _CACHE:
        body = _leapfrog if integrator == "leapfrog" else _omelyan
        dims = tuple(range(d)) if chains_last else tuple(range(1, d + 1))

        def run(phi, p, eps, mass2, lam4, h):
            return body(phi, p, eps, mass2, lam4, h, dims, n_steps)

        _CACHE[key] = torch.compile(run, dynamic=False, fullgraph=True)
    return _CACHE[key]


CPU_BLOCK_BYTES = 1 << 22  # chains per compiled call on the CPU: about 4 MB per field, cache-sized
CPU_BLOCK_BYTES_CHAINS_LAST = 1 << 20  # chains-last: 1 MB per field (best of 0.25–4 MB at L = 32)


def integrate_fused(action, integrator: str, phi: torch.Tensor, p: torch.Tensor, step_size: float, n_steps: int) -> None:
    """In place on (phi, p), like HMC.integrate, through the compiled trajectory.

    On the CPU the chains go through in blocks of about CPU_BLOCK_BYTES per field: all n_steps of
    a block then run in cache, and no buffer is large enough to be mmap-ed afresh on every call.
    With both fields chains-last (`to_chains_last`) a block is a slice of the chains of the
    (L, ..., L, B) storage, and the loops run over chains innermost.
    """
    c = action.couplings
    d = action.lattice.d
    t = lambda v: torch.tensor(v, dtype=phi.dtype, device=phi.device)  # noqa: E731
    args = (t(float(step_size)), t(2.0 * (2 * d + c.m2)), t(4.0 * c.lam), t(c.h))
    B = phi.shape[0]
    site_bytes = phi[0].numel() * phi.element_size()
    if is_chains_last(phi) and is_chains_last(p):
        fn = fused_trajectory(integrator, d, n_steps, chains_last=True)
        X, P = storage(phi), storage(p)
        block = B if phi.device.type != "cpu" else max(16, CPU_BLOCK_BYTES_CHAINS_LAST // site_bytes // 16 * 16)
        for s in range(0, B, block):
            x, q = fn(X[..., s : s + block], P[..., s : s + block], *args)
            X[..., s : s + block].copy_(x)
            P[..., s : s + block].copy_(q)
        return
    fn = fused_trajectory(integrator, d, n_steps)
    block = B if phi.device.type != "cpu" else max(1, CPU_BLOCK_BYTES // site_bytes)
    for s in range(0, B, block):
        x, q = fn(phi[s : s + block], p[s : s + block], *args)
        phi[s : s + block].copy_(x)
        p[s : s + block].copy_(q)

"""The chains-last memory layout of a batch of fields: (B, L, ..., L) stored in the order (L, ..., L, B).

The tensor is a permuted view of contiguous (L, ..., L, B) storage, so every op of the package
takes it as it takes a contiguous field; the compiled HMC kernel (mcmc.kernels) runs its loops
over chains innermost on it, where each neighbour access is a contiguous vector load.
"""

from __future__ import annotations

import torch


def is_chains_last(phi: torch.Tensor) -> bool:
    return phi.dim() > 1 and phi.permute(*range(1, phi.dim()), 0).is_contiguous()


def to_chains_last(phi: torch.Tensor) -> torch.Tensor:
    """The same field, stored chains-last; phi itself if it already is."""
    if is_chains_last(phi):
        return phi
    d = phi.dim() - 1
    return phi.permute(*range(1, d + 1), 0).contiguous().permute(d, *range(d))


def storage(phi: torch.Tensor) -> torch.Tensor:
    """The contiguous (L, ..., L, B) view of a chains-last field."""
    return phi.permute(*range(1, phi.dim()), 0)


def randn_like(phi: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """N(0, 1) in phi's layout: torch.randn(phi.shape) for a contiguous phi; for a chains-last one
    the draw of its (L, ..., L, B) storage (a defined order, independent of how normal_ treats
    non-contiguous tensors)."""
    if is_chains_last(phi) and not phi.is_contiguous():
        d = phi.dim() - 1
        s = tuple(phi.shape[1:]) + (phi.shape[0],)
        return torch.randn(s, generator=generator, dtype=phi.dtype, device=phi.device).permute(d, *range(d))
    return torch.randn(phi.shape, generator=generator, dtype=phi.dtype, device=phi.device)

"""Swendsen–Wang cluster moves on the embedded Ising signs of φ⁴, batched over chains.

Write φ_x = s_x |φ_x|. At fixed |φ|, the action's dependence on the signs is the Ising model
−Σ_{⟨xy⟩} 2|φ_x φ_y| s_x s_y − h Σ_x |φ_x| s_x. Swendsen–Wang: every aligned neighbour pair
(φ_x φ_y > 0) bonds with probability 1 − exp(−4 φ_x φ_y); each cluster of bonded sites then
takes a new sign, ±1 with probability ½ at h = 0, or by heat bath in the field,
P(+) = 1/(1 + exp(−2h Σ_{x∈C} |φ_x|)). This leaves e^{−S} invariant (detailed balance of the
joint bond–spin measure) and changes the magnetization by whole domains at a time, which is
what removes critical slowing down of |M|; it never changes |φ|, so it is combined with HMC.

Clusters are found for all chains at once: on the CPU as the connected components of the bond
graph of all chains together (scipy.sparse.csgraph, linear in the number of sites); on other
devices by min-label propagation, iterated to convergence with pointer jumping (its number of
sweeps grows with the cluster diameter). Both give each site the smallest flat site index of its
cluster, so the new signs, drawn per label, are the same on either path.
"""

from __future__ import annotations

import numpy as np
import torch


def bonds(phi: torch.Tensor, axes, generator: torch.Generator) -> list[torch.Tensor]:
    """One bool tensor per axis: bond between x and x + μ̂ (periodic)."""
    out = []
    for a in axes:
        prod = phi * torch.roll(phi, -1, a)
        p = -torch.expm1(-4.0 * prod.clamp_min(0.0))  # 1 − e^{−4 φ_x φ_y} for aligned pairs, 0 otherwise
        u = torch.rand(phi.shape, generator=generator, dtype=phi.dtype, device=phi.device)
        out.append(u < p)
    return out


def cluster_labels(bond: list[torch.Tensor], axes) -> torch.Tensor:
    """Label of each site's cluster (the smallest flat site index in it), per chain."""
    if bond[0].device.type == "cpu":
        return _labels_components(bond, axes)
    return _labels_propagation(bond, axes)


_NEIGHBOURS: dict = {}


def _forward_index(shape, a: int) -> np.ndarray:
    """Flat index (over all chains) of x + μ̂ along axis a for every site x, cached per shape."""
    key = (tuple(shape), a)
    if key not in _NEIGHBOURS:
        if len(_NEIGHBOURS) > 8:
            _NEIGHBOURS.clear()
        site = torch.arange(int(np.prod(shape))).reshape(shape)
        _NEIGHBOURS[key] = torch.roll(site, -1, a).reshape(-1).numpy()
    return _NEIGHBOURS[key]


def _labels_components(bond: list[torch.Tensor], axes) -> torch.Tensor:
    """cluster_labels by connected components of the bond graph of all chains (scipy)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    shape = bond[0].shape
    V = bond[0][0].numel()
    n = bond[0].numel()
    src = [np.flatnonzero(b.reshape(-1).numpy()) for b in bond]
    dst = np.concatenate([_forward_index(shape, a)[s] for s, a in zip(src, axes)])  # x + μ̂, same chain
    src = np.concatenate(src)
    graph = csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    comp = torch.from_numpy(comp.astype(np.int64))
    within = torch.arange(n, dtype=torch.int64) % V
    root = torch.full((n_comp,), V, dtype=torch.int64).scatter_reduce_(0, comp, within, "amin")
    return root[comp].reshape(shape)


def _labels_propagation(bond: list[torch.Tensor], axes) -> torch.Tensor:
    """cluster_labels by min-label propagation with pointer jumping (any device)."""
    shape = bond[0].shape
    B = shape[0]
    V = bond[0][0].numel()
    label = torch.arange(V, device=bond[0].device).reshape((1,) + tuple(shape[1:])).expand(shape).clone()
    big = torch.iinfo(label.dtype).max
    while True:
        new = label
        for b, a in zip(bond, axes):
            fwd = torch.where(b, torch.roll(label, -1, a), big)  # neighbour x + μ̂ through the bond at x
            bwd = torch.where(torch.roll(b, 1, a), torch.roll(label, 1, a), big)  # x − μ̂ through its bond
            new = torch.minimum(new, torch.minimum(fwd, bwd))
        # pointer jumping: follow labels to the label of the labelled site
        flat = new.reshape(B, V)
        flat = torch.minimum(flat, torch.gather(flat, 1, flat))
        new = flat.reshape(shape)
        if torch.equal(new, label):
            return label
        label = new


def swendsen_wang(phi: torch.Tensor, h: float, generator: torch.Generator) -> torch.Tensor:
    """One SW update of the signs of every chain of phi (B, L, ..., L); returns the new field."""
    axes = tuple(range(1, phi.dim()))
    labels = cluster_labels(bonds(phi, axes, generator), axes)
    B = phi.shape[0]
    V = phi[0].numel()
    flat_lab = labels.reshape(B, V)
    if h == 0.0:
        p_plus = torch.full((B, V), 0.5, dtype=phi.dtype, device=phi.device)
    else:
        weight = torch.zeros((B, V), dtype=phi.dtype, device=phi.device)
        weight.scatter_add_(1, flat_lab, phi.abs().reshape(B, V))  # Σ_{x∈C} |φ_x| at the root index
        p_plus = torch.sigmoid(2.0 * h * weight)
    u = torch.rand((B, V), generator=generator, dtype=phi.dtype, device=phi.device)
    sign_root = torch.where(u < p_plus, 1.0, -1.0).to(phi.dtype)
    sign = torch.gather(sign_root, 1, flat_lab).reshape(phi.shape)
    return sign * phi.abs()

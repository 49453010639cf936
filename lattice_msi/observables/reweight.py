"""Reweighting an ensemble at (m², h) to nearby couplings (m²′, h′): the model-free reference.

S′ − S = Σ_x [(m²′ − m²) φ_x² − (h′ − h) φ_x] = V [Δm² ⟨φ²⟩_cfg − Δh M_cfg], so the
log-weights are log w = −(S′ − S) per configuration; estimates are ⟨O w⟩/⟨w⟩ with errors
that include the weights, and the Kish ESS = (Σw)²/Σw² says how far the reweighting reaches.
"""

from __future__ import annotations

import numpy as np


def coupling_log_weights(feats: dict[str, np.ndarray], volume: int, dm2: float = 0.0, dh: float = 0.0) -> np.ndarray:
    """log w = −ΔS for m² → m² + dm2, h → h + dh, from the per-config features."""
    return -volume * (dm2 * feats["phi2"] - dh * feats["M"])


def kish_ess(log_w: np.ndarray) -> float:
    w = np.exp(log_w - np.max(log_w))
    return float(w.sum() ** 2 / (w * w).sum())

"""Independent reference values for checking MCMC (and generated) ensembles.

L = 8, d = 2, m² = −4, λ = 4.572, h = 0: an independent cluster algorithm, errors from 64
independent chains; definitions of MATH.md §1 (ξ₂ from the full G̃(0) = V⟨M²⟩ at h = 0).
"""

REFERENCE_L8 = {
    "<|M|>": (0.3303, 0.0020),
    "V<M^2>": (8.24, 0.08),
    "U4": (0.5215, 0.0027),
    "<phi^2>": (0.2720, 0.0007),
    "xi2": (4.90, 0.04),
}
REFERENCE_L8_THEORY = dict(L=8, d=2, m2=-4.0, lam=4.572, h=0.0)

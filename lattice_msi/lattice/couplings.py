"""Couplings (m², λ, h) of lattice φ⁴, validated so that e^{−S} is normalisable (MATH.md §1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ConfigError, require_finite


@dataclass(frozen=True)
class Couplings:
    """S = Σ_x [(2d + m²) φ² + λ φ⁴ − h φ − 2 Σ_μ φ_x φ_{x+μ̂}].

    λ must be ≥ 0, and λ = 0 needs m² > 0 (the free field); h is a uniform external field.
    """

    m2: float
    lam: float
    h: float = 0.0

    def __post_init__(self):
        m2 = require_finite("m2", self.m2)
        lam = require_finite("lam", self.lam)
        h = require_finite("h", self.h)
        if lam < 0:
            raise ConfigError(f"lam = {lam} is negative: e^-S is not normalisable (need lam >= 0)")
        if lam == 0 and m2 <= 0:
            raise ConfigError(f"m2 = {m2} with lam = 0: the free field needs m2 > 0")
        object.__setattr__(self, "m2", m2)
        object.__setattr__(self, "lam", lam)
        object.__setattr__(self, "h", h)

    @classmethod
    def from_hopping(cls, kappa: float, lam_tilde: float, d: int, h_tilde: float = 0.0) -> "Couplings":
        """Couplings from the hopping form S = Σ[−2κ Σ_μ ϕ_x ϕ_{x+μ̂} + ϕ² + λ̃(ϕ² − 1)² − h̃ ϕ].

        With φ = √κ ϕ: λ = λ̃/κ², m² = (1 − 2λ̃)/κ − 2d, h = h̃/√κ.
        """
        kappa = require_finite("kappa", kappa)
        lam_tilde = require_finite("lam_tilde", lam_tilde)
        h_tilde = require_finite("h_tilde", h_tilde)
        if kappa <= 0:
            raise ConfigError(f"kappa = {kappa} must be positive")
        return cls(
            m2=(1.0 - 2.0 * lam_tilde) / kappa - 2.0 * d,
            lam=lam_tilde / kappa**2,
            h=h_tilde / kappa**0.5,
        )

    @property
    def is_free(self) -> bool:
        return self.lam == 0.0

    def to_dict(self) -> dict:
        return asdict(self)

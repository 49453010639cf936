"""Training distributions ν: endpoints reconstruct from (x_t, target), ranges, structure, evenness."""

import pytest
import torch

from lattice_msi import ConfigError
from lattice_msi.interpolants import (
    BlockNu,
    FreeFieldOracle,
    MixtureNu,
    ModeNu,
    ScalarNu,
    SiteNu,
    eta_from_prediction,
    mode_reflect,
)
from lattice_msi.lattice import Couplings, Lattice

from conftest import gen

LAT = Lattice(8, 2)


def all_nus():
    return [ScalarNu(LAT), SiteNu(LAT), BlockNu(LAT, 4), ModeNu(LAT), MixtureNu([(ScalarNu(LAT), 1), (SiteNu(LAT), 1), (BlockNu(LAT, 2), 1)])]


@pytest.mark.parametrize("nu", all_nus(), ids=lambda n: n.name)
def test_target_reconstructs_both_endpoints(nu):
    g = gen(1)
    x1 = torch.randn((16,) + LAT.shape, generator=g, dtype=torch.float64)
    b = nu.draw(x1, g)
    a = b.op.a
    assert (a >= 0).all() and (a <= 1).all()
    torch.testing.assert_close(b.op.b, 1 - a)
    e = eta_from_prediction(b.x, b.op, b.target)  # the exact target gives back x0 and x1 pointwise
    torch.testing.assert_close(e.eta1, x1, rtol=0, atol=1e-12)
    torch.testing.assert_close(e.eta0 - e.eta1, b.target, rtol=0, atol=1e-12)


def test_oracle_prediction_is_consistent_with_eta():
    """η̂ = η0 − η1 of the oracle, mapped back, gives the oracle's own η0, η1."""
    g = gen(2)
    o = FreeFieldOracle.from_couplings(LAT, Couplings(0.5, 0.0))
    for nu in (SiteNu(LAT), ModeNu(LAT)):
        b = nu.draw(o.sample(8, g), g)
        e = o(b.x, b.op)
        back = eta_from_prediction(b.x, b.op, e.eta0 - e.eta1)
        torch.testing.assert_close(back.eta1, e.eta1, rtol=0, atol=1e-10)
        torch.testing.assert_close(back.eta0, e.eta0, rtol=0, atol=1e-10)


def test_block_constant_and_mode_even():
    g = gen(3)
    a = BlockNu(LAT, 4).alpha(5, g, torch.float64)
    assert torch.equal(a[:, :4, :4], a[:, :1, :1].expand(5, 4, 4))
    m = ModeNu(LAT, p_frontier=0.4, p_band=0.3).alpha(64, g, torch.float64)
    assert torch.equal(m, mode_reflect(m, LAT))
    band = ModeNu(LAT, p_frontier=0.0, p_band=1.0).alpha(64, g, torch.float64)
    for a in band:  # zeros on a low-|k| set, one common level elsewhere
        assert len(torch.unique(a[a > 0])) <= 1
    f = ModeNu(LAT, p_frontier=1.0, p_band=0.0).alpha(64, g, torch.float64)
    # a frontier reveals coarse modes first: α(k=0) ≤ α at the highest mode
    assert (f[:, 0, 0] <= f[:, 4, 4]).all()
    s = ScalarNu(LAT).alpha(4000, g, torch.float64)
    assert abs(s.mean().item() - 0.5) < 4 * (1 / 12 / 4000) ** 0.5


def test_mixture_refuses_two_families():
    with pytest.raises(ConfigError, match="mix families"):
        MixtureNu([(SiteNu(LAT), 1), (ModeNu(LAT), 1)])
    with pytest.raises(ConfigError, match="block = 3"):
        BlockNu(LAT, 3)


def test_known_region_nu_has_inpainting_operators():
    """α = 0 on a known region, one shared α elsewhere; all four region kinds occur, the half slab
    is exactly half the lattice."""
    from lattice_msi.interpolants import KnownRegionNu

    lat = Lattice(8, 2)
    nu = KnownRegionNu(lat)
    g = torch.Generator().manual_seed(0)
    a = nu.alpha(400, g, torch.float64)
    for i in range(400):
        free = a[i][a[i] > 0]
        assert len(free) == 0 or torch.allclose(free, free[0].expand_as(free))
    g = torch.Generator().manual_seed(0)
    m = nu.masks(400, g)
    counts = m.flatten(1).sum(1)
    assert (counts == 32).sum() > 100  # half slabs and checkerboards
    assert (counts == 16).sum() > 50  # L/2 blocks
    assert len(torch.unique(counts)) > 10  # Bernoulli regions
    x1 = torch.randn(16, 8, 8, generator=g, dtype=torch.float64)
    b = nu.draw(x1, g)
    known = b.op.a.expand_as(x1) == 0
    assert b.op.family.name == "site" and known.any()
    torch.testing.assert_close(b.x[known], x1[known])  # the known region is the data itself

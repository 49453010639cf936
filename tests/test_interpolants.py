"""Operator families, Gaussian oracle identities, tilts vs tilted oracles, multiscale, integrator order."""

import numpy as np
import pytest
import torch

from lattice_msi import ConfigError
from lattice_msi.interpolants import (
    DenseGaussianOracle,
    FourierFamily,
    FreeFieldOracle,
    Operator,
    ScalarFamily,
    SiteFamily,
    TiltDomainError,
    TiltedDrift,
    coarse_to_fine_path,
    generation_path,
    mode_reflect,
    raster_rank,
    site_order_path,
)
from lattice_msi.interpolants.multiscale import coarse_nyquist_mask, low_mode_mask, prolong, restrict
from lattice_msi.lattice import Couplings, Lattice, fft, free
from lattice_msi.sampling import affine_map

from conftest import gen

LAT = Lattice(4, 2)
FREE = Couplings(0.5, 0.0, 0.2)
FAMS = [ScalarFamily, SiteFamily, FourierFamily]


def random_op(fam, g, n=3, general=True):
    sh = (n,) + fam.coef_shape
    a = torch.rand(sh, generator=g, dtype=torch.float64) * 0.9 + 0.05
    b = torch.rand(sh, generator=g, dtype=torch.float64) * 0.9 + 0.05 if general else 1 - a
    if isinstance(fam, FourierFamily):
        a, b = 0.5 * (a + mode_reflect(a, fam.lattice)), 0.5 * (b + mode_reflect(b, fam.lattice))
    return Operator(fam, a, b)


def random_gaussian(lat, g):
    V = lat.volume
    R = torch.randn(V, V, generator=g, dtype=torch.float64)
    C = R @ R.T / V + 0.3 * torch.eye(V, dtype=torch.float64)
    mu = torch.randn(V, generator=g, dtype=torch.float64)
    return DenseGaussianOracle(lat, mu, C)


@pytest.mark.parametrize("Fam", FAMS)
@pytest.mark.parametrize("which", ["free", "dense"])
def test_identity_A_eta0_plus_B_eta1(Fam, which):
    g = gen(1)
    fam = Fam(LAT)
    oracle = FreeFieldOracle.from_couplings(LAT, FREE) if which == "free" else random_gaussian(LAT, g)
    op = random_op(fam, g)
    x = torch.randn((3,) + LAT.shape, generator=g, dtype=torch.float64)
    e = oracle(x, op)
    torch.testing.assert_close(op.A(e.eta0) + op.B(e.eta1), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("Fam", [ScalarFamily, FourierFamily])
def test_per_mode_oracle_equals_dense(Fam):
    g = gen(2)
    o = FreeFieldOracle.from_couplings(LAT, FREE)
    op = random_op(Fam(LAT), g)
    x = torch.randn((3,) + LAT.shape, generator=g, dtype=torch.float64)
    e, ed = o(x, op), o.dense(x, op)
    torch.testing.assert_close(e.eta1, ed.eta1, rtol=0, atol=1e-12)
    torch.testing.assert_close(e.eta0, ed.eta0, rtol=0, atol=1e-12)


def test_oracle_endpoints():
    o = FreeFieldOracle.from_couplings(LAT, FREE)
    fam = SiteFamily(LAT)
    x = torch.randn((2,) + LAT.shape, generator=gen(3), dtype=torch.float64)
    one, zero = torch.ones((1,) + LAT.shape, dtype=torch.float64), torch.zeros((1,) + LAT.shape, dtype=torch.float64)
    e = o(x, Operator(fam, one, zero))  # pure noise: η0 = x, η1 = μ
    torch.testing.assert_close(e.eta0, x)
    torch.testing.assert_close(e.eta1, torch.full_like(x, free.mean_field(FREE)))
    e = o(x, Operator(fam, zero, one))  # data: η1 = x, η0 = 0
    torch.testing.assert_close(e.eta1, x)
    torch.testing.assert_close(e.eta0, torch.zeros_like(x))


@pytest.mark.parametrize("Fam", [SiteFamily, FourierFamily])
def test_score_is_minus_A_inverse_transpose_eta0(Fam):
    g = gen(4)
    fam = Fam(LAT)
    oracle = random_gaussian(LAT, g)
    op = random_op(fam, g, n=1)
    x = torch.randn((1,) + LAT.shape, generator=g, dtype=torch.float64)
    A = fam.dense(op.a[0])
    score = -torch.linalg.solve(A.T, oracle(x, op).eta0.reshape(-1))
    # central finite differences of the exact log-density of I = A x0 + B x1
    h = 1e-5
    V = LAT.volume
    fd = torch.empty(V, dtype=torch.float64)
    for i in range(V):
        d = torch.zeros(V, dtype=torch.float64)
        d[i] = h
        lp = oracle.log_density((x.reshape(-1) + d).reshape(x.shape), op)
        lm = oracle.log_density((x.reshape(-1) - d).reshape(x.shape), op)
        fd[i] = (lp - lm)[0] / (2 * h)
    torch.testing.assert_close(score, fd, rtol=1e-6, atol=1e-7)


TILTS = [
    ("field", dict(h=0.37)),
    ("site field", dict(h="field")),
    ("mass q<0", dict(q=-0.6)),
    ("mass q<0 + field", dict(q=-0.4, h=0.2)),
    ("q>0 valid region", dict(q=0.3)),
]


@pytest.mark.parametrize("Fam", FAMS)
@pytest.mark.parametrize("name, kw", TILTS)
def test_tilt_equals_oracle_of_tilted_gaussian(Fam, name, kw):
    g = gen(5)
    fam = Fam(LAT)
    kw = dict(kw)
    if kw.get("h") == "field":
        kw["h"] = torch.randn(LAT.shape, generator=g, dtype=torch.float64)
    for oracle in (FreeFieldOracle.from_couplings(LAT, FREE), random_gaussian(LAT, g)):
        if isinstance(oracle, FreeFieldOracle):
            exact = oracle.tilted(kw.get("q", 0.0), kw.get("h", 0.0))
        else:
            exact = oracle.tilted(kw.get("q", 0.0), kw.get("h", 0.0))
        tilt = TiltedDrift(oracle, start="late", **kw)
        op = random_op(fam, g, general=False)
        if kw.get("q", 0) > 0:  # move into the valid region β²/α² > q
            a = op.a * 0.3
            op = Operator(fam, a, 1 - a)
        assert tilt.valid(op)
        x = torch.randn((3,) + LAT.shape, generator=g, dtype=torch.float64)
        e, ex = tilt(x, op), exact(x, op)
        torch.testing.assert_close(e.eta1, ex.eta1, rtol=0, atol=1e-10)
        torch.testing.assert_close(e.eta0, ex.eta0, rtol=0, atol=1e-10)


def test_per_mode_q_tilt_equals_tilted_oracle():
    g = gen(6)
    o = FreeFieldOracle.from_couplings(LAT, FREE)
    from lattice_msi.lattice import khat2

    q = -0.3 * khat2(LAT)  # a change of the hopping term: Fourier-diagonal, even
    tilt = TiltedDrift(o, q=q, h=0.1)
    exact = o.tilted(q, 0.1)
    for Fam in (ScalarFamily, FourierFamily):
        op = random_op(Fam(LAT), g, general=False)
        x = torch.randn((3,) + LAT.shape, generator=g, dtype=torch.float64)
        # the tilted operator is per mode: compare against the exact tilted oracle at the same (x, op)
        torch.testing.assert_close(tilt(x, op).eta1, exact(x, op).eta1, rtol=0, atol=1e-10)
    with pytest.raises(ConfigError, match="per-mode q needs a Fourier"):
        tilt(x, random_op(SiteFamily(LAT), g, general=False))


def test_tilt_refused_outside_validity():
    o = FreeFieldOracle.from_couplings(LAT, FREE)
    fam = ScalarFamily(LAT)
    noise_end = Operator(fam, torch.full((1, 1, 1), 0.9, dtype=torch.float64), torch.full((1, 1, 1), 0.1, dtype=torch.float64))
    x = torch.zeros((1,) + LAT.shape, dtype=torch.float64)
    t = TiltedDrift(o, q=0.5)
    assert t.start == "refuse" and not t.valid(noise_end)
    with pytest.raises(TiltDomainError, match="not valid"):
        t(x, noise_end)
    assert TiltedDrift(o, q=-0.5, h=0.3).valid(Operator(fam, torch.ones((1, 1, 1), dtype=torch.float64), torch.zeros((1, 1, 1), dtype=torch.float64)))
    assert not TiltedDrift(o, h=0.3).valid(Operator(fam, torch.ones((1, 1, 1), dtype=torch.float64), torch.zeros((1, 1, 1), dtype=torch.float64)))
    with pytest.raises(ConfigError, match="start = 'never'"):
        TiltedDrift(o, h=0.1, start="never")


def test_fourier_coefficients_must_be_even():
    fam = FourierFamily(LAT)
    c = torch.zeros(LAT.shape, dtype=torch.float64)
    c[0, 1] = 1.0
    with pytest.raises(ConfigError, match="not even"):
        fam.check_coef(c)
    fam.check_coef(0.5 * (c + mode_reflect(c[None], LAT)[0]))


def test_fourier_operator_is_real_symmetric_translation_invariant():
    fam = FourierFamily(LAT)
    c = torch.rand(LAT.shape, generator=gen(7), dtype=torch.float64)
    c = 0.5 * (c + mode_reflect(c[None], LAT)[0])
    A = fam.dense(c)
    torch.testing.assert_close(A, A.T)
    x = torch.randn((1,) + LAT.shape, generator=gen(8), dtype=torch.float64)
    torch.testing.assert_close(fam.apply(c[None], torch.roll(x, 1, 1)), torch.roll(fam.apply(c[None], x), 1, 1))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_restriction_and_prolongation(d):
    fine = Lattice(8, d)
    coarse = Lattice(4, d)
    x = torch.randn((5,) + fine.shape, generator=gen(9), dtype=torch.float64)
    xc = restrict(x, fine)
    assert xc.shape == (5,) + coarse.shape
    torch.testing.assert_close(xc.mean(tuple(range(1, d + 1))), x.mean(tuple(range(1, d + 1))))
    torch.testing.assert_close(restrict(prolong(xc, coarse), fine), xc)
    assert fft(xc, coarse).abs()[(slice(None),) + tuple(torch.nonzero(coarse_nyquist_mask(coarse)).T)].max() < 1e-12


def test_restricted_free_field_is_exact_low_mode_marginal():
    fine, coarse = Lattice(8, 2), Lattice(4, 2)
    c = Couplings(0.5, 0.0)
    o = FreeFieldOracle.from_couplings(fine, c)
    C = o.covariance_dense()
    # restriction is linear: its V_c × V matrix R gives the coarse covariance R C Rᵀ exactly
    R = restrict(torch.eye(64, dtype=torch.float64).reshape(64, 8, 8), fine).reshape(64, 16).T
    Cc = R @ C @ R.T
    Fc = FourierFamily(coarse)
    g_expected = torch.zeros(coarse.shape, dtype=torch.float64)
    low = low_mode_mask(fine)
    Gf = free.propagator(fine, c)
    from lattice_msi.interpolants.multiscale import _coarse_index

    g_expected = (Gf * low)[tuple(_coarse_index(coarse))] / 2**2  # φ̂_c = 2^{-d/2} φ̂
    torch.testing.assert_close(Cc, Fc.dense(g_expected), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method, order", [("euler", 1.0), ("heun", 2.0)])
def test_integrator_order_on_exact_linear_drift(method, order):
    """The affine map of each integrator under the oracle: covariance error ∝ n^{−order}."""
    lat = Lattice(8, 2)
    o = FreeFieldOracle.from_couplings(lat, Couplings(0.5, 0.0))
    C = o.covariance_dense()
    path = generation_path(lat)
    ns = np.array([16, 32, 64])
    errs = []
    for n in ns:
        _, S = affine_map(o, path, path.grid(int(n)), method, lat).push(torch.zeros(64, dtype=torch.float64), torch.eye(64, dtype=torch.float64))
        errs.append(float((S - C).abs().max()))
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.15, slope


@pytest.mark.parametrize("make", [lambda l: coarse_to_fine_path(l), lambda l: site_order_path(l, raster_rank(l)), lambda l: generation_path(l, "cosine")])
def test_every_path_converges_to_exact_law(make):
    lat = Lattice(8, 2)
    o = FreeFieldOracle.from_couplings(lat, Couplings(0.5, 0.0, 0.3))
    path = make(lat)
    am = affine_map(o, path, path.grid(32 if path.family.name != "scalar" else 256), "heun", lat)
    mu, S = am.push(torch.zeros(64, dtype=torch.float64), torch.eye(64, dtype=torch.float64))
    C = o.covariance_dense()
    assert float((S - C).abs().max() / C.abs().max()) < 2e-3
    assert float((mu - 0.3).abs().max()) < 1e-3

"""Lattice: couplings validation, action/force, hopping form, free-field exact results."""

import itertools
import math

import pytest
import torch

from lattice_msi import ConfigError
from lattice_msi.lattice import Couplings, Lattice, Phi4Action, free, khat2

from conftest import gen


@pytest.mark.parametrize(
    "kw, word",
    [
        (dict(m2=1.0, lam=-0.1), "lam = -0.1"),
        (dict(m2=-1.0, lam=0.0), "m2 = -1.0"),
        (dict(m2=0.0, lam=0.0), "m2 = 0.0"),
        (dict(m2=float("nan"), lam=1.0), "m2 = nan"),
        (dict(m2=1.0, lam=float("inf")), "lam = inf"),
        (dict(m2=1.0, lam=1.0, h=float("nan")), "h = nan"),
        (dict(m2="abc", lam=1.0), "m2 = 'abc'"),
    ],
)
def test_couplings_rejected_with_named_value(kw, word):
    with pytest.raises(ConfigError, match=word.replace("(", r"\(")):
        Couplings(**kw)


@pytest.mark.parametrize("kw, word", [(dict(L=1), "L = 1"), (dict(L=8, d=0), "d = 0"), (dict(L=8, d=5), "d = 5"), (dict(L=8.0), "L = 8.0")])
def test_lattice_rejected(kw, word):
    with pytest.raises(ConfigError, match=word):
        Lattice(**kw)


def test_free_field_accepted():
    assert Couplings(0.5, 0.0).is_free


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_force_is_minus_gradient_of_action(d):
    L = {1: 7, 2: 6, 3: 4, 4: 3}[d]
    lat = Lattice(L, d)
    act = Phi4Action(lat, Couplings(m2=-1.3, lam=0.7, h=0.31))
    phi = torch.randn((3,) + lat.shape, generator=gen(d), dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(act(phi).sum(), phi)
    f = act.force(phi.detach())
    torch.testing.assert_close(f, -g, rtol=1e-12, atol=1e-12)
    # the in-place path with reused buffers gives the same
    out, work = torch.full_like(f, 7.0), torch.full_like(f, -3.0)
    act.force(phi.detach(), out=out, work=work)
    torch.testing.assert_close(out, -g, rtol=1e-12, atol=1e-12)


def test_force_follows_dtype():
    lat = Lattice(4, 2)
    act = Phi4Action(lat, Couplings(-4.0, 4.572))
    phi = torch.randn((2, 4, 4), generator=gen(0), dtype=torch.float32)
    assert act.force(phi).dtype == torch.float32
    assert act.action(phi).dtype == torch.float64  # accumulated in double


def test_action_explicit_small_lattice():
    # d = 1, L = 3: S = Σ (2 + m²)φ² + λφ⁴ − hφ − 2 Σ φ_x φ_{x+1}
    lat = Lattice(3, 1)
    c = Couplings(m2=0.5, lam=2.0, h=0.3)
    phi = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    x = phi[0].tolist()
    s = sum(2.5 * v**2 + 2.0 * v**4 - 0.3 * v for v in x) - 2 * (x[0] * x[1] + x[1] * x[2] + x[2] * x[0])
    assert Phi4Action(lat, c)(phi).item() == pytest.approx(s, rel=1e-14)


def test_hopping_form_is_the_same_theory():
    d, kappa, lam_t, h_t = 2, 0.21, 0.3, 0.05
    c = Couplings.from_hopping(kappa, lam_t, d, h_t)
    assert c.lam == pytest.approx(lam_t / kappa**2)
    assert c.m2 == pytest.approx((1 - 2 * lam_t) / kappa - 2 * d)
    lat = Lattice(4, d)
    varphi = torch.randn((5,) + lat.shape, generator=gen(3), dtype=torch.float64)
    hop = sum((varphi * torch.roll(varphi, -1, a)).sum((1, 2)) for a in (1, 2))
    s_hop = (-2 * kappa * hop + (varphi**2).sum((1, 2)) + lam_t * ((varphi**2 - 1) ** 2).sum((1, 2))
             - h_t * varphi.sum((1, 2)))
    s_phi = Phi4Action(lat, c)(math.sqrt(kappa) * varphi)
    # equal up to the constant λ̃ V
    torch.testing.assert_close(s_phi, s_hop - lam_t * lat.volume, rtol=1e-12, atol=1e-10)
    with pytest.raises(ConfigError, match="kappa = -0.1"):
        Couplings.from_hopping(-0.1, 0.3, 2)


def _dense_covariance(lat, c):
    """C = (2K)^-1 from the Hessian of the free action: an independent route to G̃(k)."""
    act = Phi4Action(lat, c)
    V = lat.volume
    H = torch.autograd.functional.hessian(lambda v: act(v.reshape((1,) + lat.shape)).sum(), torch.zeros(V, dtype=torch.float64))
    return torch.linalg.inv(H)  # H = 2K


@pytest.mark.parametrize("d, L", [(1, 6), (2, 4), (3, 3)])
def test_free_propagator_matches_dense_inverse(d, L):
    lat = Lattice(L, d)
    c = Couplings(0.7, 0.0, 0.2)
    C = _dense_covariance(lat, c)
    # G̃(k) = V⁻¹ Σ_{x,y} e^{−ik(x−y)} C_xy for every mode
    sites = list(itertools.product(range(L), repeat=d))
    x = torch.tensor(sites, dtype=torch.float64)
    G = free.propagator(lat, c)
    for n in itertools.product(range(L), repeat=d):
        k = 2 * math.pi * torch.tensor(n, dtype=torch.float64) / L
        ph = torch.exp(-1j * (x @ k))
        g = (ph.conj() @ C.to(torch.complex128) @ ph).real / lat.volume
        assert G[n].item() == pytest.approx(g.item(), rel=1e-10)
    assert free.phi2_connected(lat, c) == pytest.approx(torch.diagonal(C).mean().item(), rel=1e-10)
    mu = C @ torch.full((lat.volume,), c.h, dtype=torch.float64)
    assert free.mean_field(c) == pytest.approx(mu.mean().item(), rel=1e-10)


def test_khat2_range():
    k = khat2(Lattice(8, 2))
    assert k[0, 0] == 0 and k.max().item() == pytest.approx(8.0)


def test_exact_sampler_covariance():
    lat = Lattice(4, 2)
    c = Couplings(0.5, 0.0, 0.3)
    x = free.sample(lat, c, 200_000, gen(5)).reshape(200_000, -1)
    C = _dense_covariance(lat, c)
    emp = torch.cov(x.T)
    # each entry's standard error ≈ sqrt((C_ii C_jj + C_ij²)/n)
    se = torch.sqrt((torch.outer(C.diag(), C.diag()) + C**2) / x.shape[0])
    assert ((emp - C).abs() / se).max() < 5.0
    assert abs(x.mean().item() - free.mean_field(c)) < 5 * math.sqrt(C.sum().item()) / lat.volume / math.sqrt(x.shape[0])

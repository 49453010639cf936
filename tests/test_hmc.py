"""HMC: reversibility, ΔH scaling, ⟨e^{−ΔH}⟩ = 1, free-field exact values, interacting reference point."""

import math

import numpy as np
import pytest
import torch

from lattice_msi import ConfigError
from lattice_msi.lattice import Couplings, Lattice, Phi4Action, free
from lattice_msi.mcmc import HMC, HMCConfig, StepSizeTuner
from lattice_msi.mcmc.reference import REFERENCE_L8
from lattice_msi.observables import momentum_two_point, summarize
from lattice_msi.stats import gamma_method

from conftest import gen

K_SIGMA = 4.0  # statistical tolerance in combined standard deviations
INTEGRATORS = ["leapfrog", "omelyan"]


def interacting(L=8):
    lat = Lattice(L, 2)
    return lat, Phi4Action(lat, Couplings(-4.0, 4.572, 0.0))


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_reversible(integrator):
    lat, act = interacting(6)
    hmc = HMC(act, HMCConfig(0.05, 20, integrator))
    phi0 = torch.randn((4,) + lat.shape, generator=gen(0), dtype=torch.float64) * 0.5
    p0 = torch.randn(phi0.shape, generator=gen(1), dtype=torch.float64)
    phi, p = phi0.clone(), p0.clone()
    hmc.integrate(phi, p, 0.05, 20)
    assert (phi - phi0).abs().max() > 0.1  # it moved
    p.neg_()
    hmc.integrate(phi, p, 0.05, 20)
    torch.testing.assert_close(phi, phi0, rtol=0, atol=1e-11)
    torch.testing.assert_close(-p, p0, rtol=0, atol=1e-11)


def _equilibrium_interacting(n_chains=64, seed=0):
    lat, act = interacting(6)
    hmc = HMC(act, HMCConfig(0.1, 10))
    g = gen(seed)
    phi = 0.5 * torch.randn((n_chains,) + lat.shape, generator=g, dtype=torch.float64)
    for _ in range(100):
        phi = hmc.trajectory(phi, g).phi
    return lat, act, phi


def _dH(hmc, phi, eps, n_steps, seed=7):
    p = torch.randn(phi.shape, generator=gen(seed), dtype=phi.dtype)
    x, q = phi.clone(), p.clone()
    h0 = hmc.hamiltonian(x, q)
    hmc.integrate(x, q, eps, n_steps)
    return hmc.hamiltonian(x, q) - h0


@pytest.mark.parametrize("integrator, eps", [("leapfrog", [0.05, 0.025, 0.0125]), ("omelyan", [0.1, 0.05, 0.025])])
def test_rms_dH_scales_as_eps2(integrator, eps):
    """At fixed trajectory length τ = 1 on interacting equilibrium configurations: rms ΔH ∝ ε²."""
    lat, act, phi = _equilibrium_interacting()
    hmc = HMC(act, HMCConfig(0.1, 10, integrator))
    rms = [_dH(hmc, phi, e, int(round(1 / e))).pow(2).mean().sqrt().item() for e in eps]
    slope = np.polyfit(np.log(eps), np.log(rms), 1)[0]
    assert abs(slope - 2.0) < 0.1, slope


def test_mean_dH_scales_as_eps4():
    """Leapfrog, τ = 1, exact free-field equilibrium (L = 16, 8192 chains): ⟨ΔH⟩ ∝ ε⁴ > 0.

    In equilibrium ⟨ΔH⟩ = ½⟨ΔH²⟩ + … because ⟨e^{−ΔH}⟩ = 1, so it is positive and of order
    ε⁴; the sample noise is ~ rms/√n, and the ε range keeps it below ~15 % of the signal.
    """
    lat = Lattice(16, 2)
    c = Couplings(0.5, 0.0)
    phi = free.sample(lat, c, 8192, gen(1))
    hmc = HMC(Phi4Action(lat, c), HMCConfig(0.1, 10))
    ns = [6, 8, 12]
    means = []
    for n in ns:
        dH = _dH(hmc, phi, 1.0 / n, n)
        est = gamma_method(dH[None].numpy(), S=0)
        assert est.value > 5 * est.error  # clearly positive
        means.append(est.value)
    slope = np.polyfit(np.log(1.0 / np.array(ns)), np.log(means), 1)[0]
    assert 3.5 < slope < 4.8, slope  # a first-order integrator gives 2


def test_exp_minus_dH_is_one():
    lat, act, phi = _equilibrium_interacting(seed=3)
    hmc = HMC(act, HMCConfig(0.14, 10))
    g = gen(11)
    w = []
    for _ in range(300):
        r = hmc.trajectory(phi, g)
        phi = r.phi
        w.append(torch.exp(-r.dH))
    w = torch.stack(w, 1)  # (chains, trajectories)
    est = gamma_method(w.numpy())
    assert 0.3 < 1.0 - float((w > 1).double().mean()) < 1.0  # non-trivial acceptance
    assert abs(est.value - 1.0) < K_SIGMA * est.error, (est.value, est.error)


def test_step_size_tuner_reaches_target():
    lat, act = interacting(8)
    hmc = HMC(act, HMCConfig(0.5, 10))
    tuner = StepSizeTuner(0.5, 0.8)
    g = gen(2)
    phi = 0.5 * torch.randn((32,) + lat.shape, generator=g, dtype=torch.float64)
    eps = 0.5
    for _ in range(300):
        r = hmc.trajectory(phi, g, eps)
        phi = r.phi
        eps = tuner.update(r.accept_prob)
    acc = []
    for _ in range(100):
        r = hmc.trajectory(phi, g, eps)
        phi = r.phi
        acc.append(r.accept_prob.mean().item())
    assert abs(np.mean(acc) - 0.8) < 0.05


def test_bad_config_rejected():
    with pytest.raises(ConfigError, match="step_size = -0.1"):
        HMCConfig(-0.1, 10)
    with pytest.raises(ConfigError, match="n_steps = 0"):
        HMCConfig(0.1, 0)
    with pytest.raises(ConfigError, match="integrator = 'rk4'"):
        HMCConfig(0.1, 10, "rk4")


def _run_chains(act, lat, n_chains, n_therm, n_prod, eps, seed, n_steps=10):
    hmc = HMC(act, HMCConfig(eps, n_steps))
    g = gen(seed)
    phi = 0.5 * torch.randn((n_chains,) + lat.shape, generator=g, dtype=torch.float64)
    for _ in range(n_therm):
        phi = hmc.trajectory(phi, g).phi
    out = torch.empty((n_chains, n_prod) + lat.shape, dtype=torch.float64)
    for i in range(n_prod):
        phi = hmc.trajectory(phi, g).phi
        out[:, i] = phi
    return out


@pytest.mark.parametrize("h", [0.0, 0.3])
def test_free_field_exact(h):
    """λ = 0, m² = 0.5, L = 8: ⟨φ²⟩, G̃(k) for every mode, and the mean h/(2m²), within 4σ."""
    lat = Lattice(8, 2)
    c = Couplings(0.5, 0.0, h)
    x = _run_chains(Phi4Action(lat, c), lat, 32, 50, 800, 0.12, seed=int(10 * h) + 1)
    R, N = x.shape[:2]
    mean = free.mean_field(c)
    flat = x.reshape((R * N,) + lat.shape)
    est_phi2 = gamma_method(((flat - mean) ** 2).mean((1, 2)).reshape(R, N).numpy())
    exact_phi2 = free.phi2_connected(lat, c)
    assert abs(est_phi2.value - exact_phi2) < K_SIGMA * est_phi2.error
    est_M = gamma_method(flat.mean((1, 2)).reshape(R, N).numpy())
    assert abs(est_M.value - mean) < K_SIGMA * est_M.error
    if h:
        assert abs(mean - h / (2 * 0.5)) < 1e-15 and est_M.value > 0.25
    gk = momentum_two_point(flat - mean, lat).reshape(R, N, -1).numpy()
    exact = free.propagator(lat, c).reshape(-1).numpy()
    pulls = []
    for j in range(gk.shape[-1]):
        e = gamma_method(gk[:, :, j])
        pulls.append((e.value - exact[j]) / e.error)
    pulls = np.array(pulls)
    assert np.abs(pulls).max() < K_SIGMA, pulls
    assert np.mean(pulls**2) < 2.0  # errors are not overestimated either: see next line
    assert np.mean(pulls**2) > 0.3




def test_interacting_point_against_reference():
    """L = 8, m² = −4, λ = 4.572: HMC agrees with cluster-algorithm values within 4 combined σ."""
    lat, act = interacting(8)
    x = _run_chains(act, lat, 64, 300, 2500, 0.12, seed=42)
    s = summarize(x, lat)
    for k, (v, e) in REFERENCE_L8.items():
        est = s[k]
        assert abs(est.pull(v, e)) < K_SIGMA, (k, str(est), v, e)
        assert est.error < 3 * e  # the check has teeth: our error is comparable to the reference's


def test_frozen_sites_sample_the_schur_conditional():
    """HMC with frozen sites: the free sites follow the exact Gaussian conditional (free field)."""
    from lattice_msi.interpolants import FreeFieldOracle

    lat = Lattice(4, 2)
    c = Couplings(0.5, 0.0)
    o = FreeFieldOracle.from_couplings(lat, c)
    C = o.covariance_dense()
    mask = torch.zeros(lat.shape, dtype=torch.bool)
    mask[:2] = True
    obs = o.sample(1, gen(30))[0]
    hmc = HMC(Phi4Action(lat, c), HMCConfig(0.15, 8), frozen=mask)
    g = gen(31)
    phi = torch.where(mask, obs, torch.zeros_like(obs)).expand(32, 4, 4).clone()
    out = []
    for i in range(700):
        phi = hmc.trajectory(phi, g).phi
        if i >= 100:
            out.append(phi.clone())
    x = torch.stack(out, 1)  # (chains, samples, 4, 4)
    assert torch.equal(x[:, :, mask], obs[mask].expand(32, 600, -1))
    k, u = mask.reshape(-1), ~mask.reshape(-1)
    cm = C[u][:, k] @ torch.linalg.solve(C[k][:, k], obs.reshape(-1)[k])
    xu = x.reshape(32, 600, -1)[:, :, u].numpy()
    for j in range(xu.shape[-1]):
        e = gamma_method(xu[:, :, j])
        assert abs(e.value - float(cm[j])) < K_SIGMA * e.error


@pytest.mark.parametrize("h", [0.0, 0.3])
def test_cluster_move_alone_preserves_free_field(h):
    """Exact free-field samples stay exact under one Swendsen–Wang sweep each (|φ| is kept)."""
    from lattice_msi.mcmc import swendsen_wang

    lat = Lattice(8, 2)
    c = Couplings(0.5, 0.0, h)
    x = free.sample(lat, c, 6000, gen(40))
    y = swendsen_wang(x, h, gen(41))
    assert torch.equal(y.abs(), x.abs())
    assert (torch.sign(y) != torch.sign(x)).any()
    mean = free.mean_field(c)
    M = gamma_method(y.mean((1, 2))[None].numpy(), S=0)
    assert abs(M.value - mean) < K_SIGMA * M.error
    gk = momentum_two_point(y - mean, lat).reshape(6000, -1).numpy()
    exact = free.propagator(lat, c).reshape(-1).numpy()
    for j in range(64):
        e = gamma_method(gk[None, :, j], S=0)
        assert abs(e.value - exact[j]) < K_SIGMA * e.error, j


def test_cluster_plus_hmc_interacting_point(tmp_path):
    """HMC + Swendsen–Wang at L = 8, m² = −4, λ = 4.572 agrees with the reference within 4σ."""
    from lattice_msi.mcmc import EnsembleConfig, run_ensemble
    from lattice_msi.observables import measure_files

    out = str(tmp_path / "sw.h5")
    run_ensemble(EnsembleConfig(L=8, chains=32, therm=100, samples=300, every=2, cluster_every=1, seed=8), out, progress=False)
    m, attrs = measure_files(out)
    assert attrs["algorithm"] == "hmc+sw"
    for k, (v, e) in REFERENCE_L8.items():
        assert abs(m[k].pull(v, e)) < K_SIGMA, (k, str(m[k]))
    assert m["<M>"].tau_int < 3.0  # tunnelling is no longer slow (plain HMC: τ_int(M) ≈ 40 saves)


@pytest.mark.slow  # ~20 s of compilation on 2 cores
def test_compiled_chains_last_with_cluster_interacting_point(tmp_path):
    """run_ensemble with kernel="compiled" (chains-last fields) and SW agrees with the L = 8 reference."""
    from lattice_msi.mcmc import EnsembleConfig, run_ensemble
    from lattice_msi.observables import measure_files

    out = str(tmp_path / "c.h5")
    run_ensemble(EnsembleConfig(L=8, chains=32, therm=100, samples=300, every=2, cluster_every=1, seed=9, kernel="compiled"), out, progress=False)
    m, _ = measure_files(out)
    for k, (v, e) in REFERENCE_L8.items():
        assert abs(m[k].pull(v, e)) < K_SIGMA, (k, str(m[k]))


@pytest.mark.slow  # ~15 s of compilation per integrator and layout on 2 cores
@pytest.mark.parametrize("layout", ["chains-first", "chains-last"])
@pytest.mark.parametrize("integrator", ["leapfrog", "omelyan"])
def test_compiled_kernel_matches_eager_trajectory(integrator, layout, monkeypatch):
    """The fused torch.compile trajectory is the eager one to rounding (float64, with a field h),
    in either memory layout; chains-last in several blocks, the last one partial."""
    from lattice_msi.mcmc import kernels

    lat = Lattice(4, 2)
    act = Phi4Action(lat, Couplings(-1.0, 1.3, 0.2))
    g = gen(0)
    phi = 0.5 * torch.randn((40,) + lat.shape, generator=g, dtype=torch.float64)
    p = torch.randn(phi.shape, generator=g, dtype=torch.float64)
    x, q = phi.clone(), p.clone()
    HMC(act, HMCConfig(0.1, 3, integrator)).integrate(x, q, 0.1, 3)
    prep = kernels.to_chains_last if layout == "chains-last" else torch.clone
    monkeypatch.setattr(kernels, "CPU_BLOCK_BYTES_CHAINS_LAST", 16 * lat.volume * 8)  # blocks of 16, 16, 8 chains
    xc, qc = prep(phi), prep(p)
    kernels.integrate_fused(act, integrator, xc, qc, 0.1, 3)
    assert kernels.is_chains_last(xc) == (layout == "chains-last")
    torch.testing.assert_close(xc, x, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(qc, q, rtol=1e-12, atol=1e-12)
    assert float((x - phi).abs().max()) > 1e-3  # it moved


def test_chains_last_layout_is_the_same_field():
    """A chains-last field (memory order (L, L, B)) has the same action and force, and an HMC
    trajectory keeps it chains-last; its momenta are drawn in memory order, so the trajectory is
    that of the contiguous field with p = the (L, L, B) draw, permuted."""
    from lattice_msi.mcmc.layout import is_chains_last, to_chains_last

    lat = Lattice(6, 2)
    act = Phi4Action(lat, Couplings(-1.0, 1.3, 0.2))
    phi = 0.5 * torch.randn((7,) + lat.shape, generator=gen(1), dtype=torch.float64)
    cl = to_chains_last(phi)
    assert is_chains_last(cl) and not is_chains_last(phi) and to_chains_last(cl) is cl
    torch.testing.assert_close(act.action(cl), act.action(phi), rtol=1e-14, atol=0)  # sums in another order
    assert torch.equal(act.force(cl), act.force(phi))
    hmc = HMC(act, HMCConfig(0.1, 5))
    r = hmc.trajectory(cl, gen(2))
    assert is_chains_last(r.phi)
    p = torch.randn((6, 6, 7), generator=gen(2), dtype=torch.float64).permute(2, 0, 1)
    x, q = phi.clone(), p.clone()
    h0 = hmc.hamiltonian(phi, p)
    hmc.integrate(x, q, 0.1, 5)
    torch.testing.assert_close(r.dH, hmc.hamiltonian(x, q) - h0, rtol=0, atol=1e-10)
    expect = torch.where(r.accepted.view(-1, 1, 1), x, phi)
    torch.testing.assert_close(r.phi, expect, rtol=0, atol=1e-12)
    assert 0 < int(r.accepted.sum())


def test_cluster_components_match_label_propagation():
    """The CPU path (connected components of all chains' bond graph) and the device path (min-label
    propagation) give every site the same label — the smallest site index of its cluster — in d = 1, 2, 3."""
    from lattice_msi.mcmc.cluster import _labels_components, _labels_propagation, bonds

    for shape, shift in (((3, 17), 0.2), ((5, 8, 8), 0.0), ((4, 6, 6), 0.6), ((2, 4, 4, 4), 0.3)):
        g = gen(sum(shape))
        phi = torch.randn(shape, generator=g, dtype=torch.float64) + shift
        axes = tuple(range(1, len(shape)))
        b = bonds(phi, axes, g)
        lab = _labels_components(b, axes)
        assert torch.equal(lab, _labels_propagation(b, axes)), shape
        n_clusters = sum(len(torch.unique(lab[i])) for i in range(shape[0]))
        assert 1 < n_clusters < lab.numel()  # neither all merged nor all single sites

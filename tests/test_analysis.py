"""Analysis: observables on exact free-field samples, U₄ limits, reweighting vs direct HMC,
comparison of ensembles (null and a 10 % change of λ), many files out of core, figures."""

import math
import os

import numpy as np
import pytest
import torch

from lattice_msi.cli import main
from lattice_msi.lattice import Couplings, Lattice, free
from lattice_msi.mcmc import EnsembleConfig, run_ensemble
from lattice_msi.observables import (
    compare,
    config_features,
    measure,
    measure_files,
    momentum_orbits,
    summarize,
    two_point,
)
from lattice_msi.plotting import plot_configs, plot_correlator, plot_magnetization_histograms, plot_tau_summary

from conftest import gen

K = 4.0


def test_free_field_observables_from_exact_sampler():
    lat = Lattice(8, 2)
    c = Couplings(0.5, 0.0)
    x = free.sample(lat, c, 20000, gen(1))
    m = summarize(x[None], lat)
    orb = momentum_orbits(8, 2)
    G = free.propagator(lat, c).reshape(-1).numpy()
    exact_orbit = np.array([G[orb.index == i][0] for i in range(orb.count)])
    pulls = np.array([(e.value - ex) / e.error for e, ex in zip(m.Gk, exact_orbit)])
    assert np.abs(pulls).max() < K
    assert abs(m["<phi^2>"].value - free.phi2(lat, c)) < K * m["<phi^2>"].error
    xi_exact = math.sqrt(exact_orbit[orb.zero()] / exact_orbit[orb.kmin(8)] - 1) / (2 * math.sin(math.pi / 8))
    assert abs(m["xi2"].value - xi_exact) < K * m["xi2"].error
    # C(t) = L⁻¹ Σ_{n_t} cos(2π n_t t / L) G̃(0, n_t)
    Gt = free.propagator(lat, c)[0].numpy()
    Ct_exact = np.array([np.mean(np.cos(2 * np.pi * np.arange(8) * t / 8) * Gt) for t in range(8)])
    for e, ex in zip(m.Ct, Ct_exact):
        assert abs(e.value - ex) < K * e.error
    assert all(abs(e.tau_int - 0.5) < 0.1 for e in m.estimates.values())  # i.i.d.: τ_int ≈ ½
    assert len(m.meff) >= 2 and all(e.value > 0 for e in m.meff)


def test_timeslice_correlator_is_sum_of_two_point():
    lat = Lattice(6, 2)
    x = torch.randn((3, 6, 6), generator=gen(2), dtype=torch.float64)
    G = two_point(x, lat)
    f = config_features(x, lat)
    np.testing.assert_allclose(f["Ct"], G.sum(1).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(G[:, 0, 0].numpy(), (x**2).mean((1, 2)).numpy(), rtol=1e-12)


def _feats_from_M(M):
    """Features of a d = 1, L = 4 'ensemble' with prescribed magnetizations (only M matters here)."""
    n = len(M)
    orb = momentum_orbits(4, 1)
    Gk = np.ones((n, orb.count))
    Gk[:, orb.zero()] = 4 * M**2 + 2.0
    return {"M": M, "absM": np.abs(M), "M2": M**2, "M4": M**4, "phi2": M**2, "Gk": Gk, "Ct": np.ones((n, 4))}


def test_binder_limits():
    rng = np.random.default_rng(0)
    m = measure(_feats_from_M(rng.standard_normal(40000)), 4, 1)
    assert abs(m["U4"].value) < K * m["U4"].error
    m = measure(_feats_from_M(0.7 * np.sign(rng.standard_normal(1000))), 4, 1)
    assert m["U4"].value == pytest.approx(2 / 3, abs=1e-12)


@pytest.fixture(scope="module")
def hmc_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ens")
    base = dict(L=8, chains=32, therm=150, samples=400, every=2)
    out = {}
    for name, kw in {"a": dict(seed=1), "b": dict(seed=2), "lam": dict(seed=3, lam=4.572 * 1.1), "h": dict(seed=4, h=0.02)}.items():
        out[name] = str(d / f"{name}.h5")
        run_ensemble(EnsembleConfig(**base, **kw), out[name], progress=False)
    return out


def test_reweighting_h_agrees_with_direct_hmc(hmc_files):
    rw, _ = measure_files(hmc_files["a"], to_h=0.02)
    direct, _ = measure_files(hmc_files["h"])
    assert 0.05 < rw.ess / rw.n_configs < 1.0
    for k in ("<M>", "<|M|>", "V<M^2>", "<phi^2>", "U4"):
        pull = (rw[k].value - direct[k].value) / math.hypot(rw[k].error, direct[k].error)
        assert abs(pull) < K, (k, pull)
    assert rw["<M>"].value > 3 * rw["<M>"].error  # the field is felt


def test_reweighting_with_equal_weights_changes_nothing(hmc_files):
    a, _ = measure_files(hmc_files["a"])
    same, _ = measure_files(hmc_files["a"], to_h=0.0)
    assert same.ess == pytest.approx(same.n_configs)
    for k in a.estimates:
        assert same[k].value == pytest.approx(a[k].value, rel=1e-10)
        assert same[k].error == pytest.approx(a[k].error, rel=1e-6)


def test_compare_null_and_flags_changed_lambda(hmc_files):
    a, _ = measure_files(hmc_files["a"])
    b, _ = measure_files(hmc_files["b"])
    c = compare(a, b)
    assert c.agree, c.table()
    assert np.mean(c.pulls**2) < 3.0
    lam, _ = measure_files(hmc_files["lam"])
    c2 = compare(a, lam)
    assert not c2.agree
    assert abs(c2.pulls[c2.names.index("<phi^2>")]) > 5


def test_compare_cli_exit_codes_and_outputs(hmc_files, tmp_path, capsys):
    out = str(tmp_path / "cmp")
    assert main(["compare", hmc_files["a"], hmc_files["b"], "--out", out]) == 0
    import xarray as xr

    ds = xr.open_dataset(out + ".nc", engine="h5netcdf")
    assert "pull" in ds and ds.attrs["agree"] == 1
    ds.close()
    assert os.path.exists(out + ".json")
    assert main(["compare", hmc_files["a"], hmc_files["lam"]]) == 1
    assert "DISAGREE" in capsys.readouterr().out


def test_shards_measured_out_of_core_equal_in_memory(tmp_path):
    out = str(tmp_path / "s.h5")
    paths = [run_ensemble(EnsembleConfig(L=6, chains=4, therm=20, samples=50, shard=s, n_shards=3, seed=9), out, progress=False).path for s in range(3)]
    m_glob, attrs = measure_files(str(tmp_path / "s.shard*-of-3.h5"), chunk=37)
    assert attrs["files"] == sorted(paths)
    from lattice_msi.io import read_ensemble

    ens = [read_ensemble(p) for p in paths]
    phi = torch.cat([e.phi for e in ens])
    f = config_features(phi, Lattice(6, 2))
    m_mem = measure(f, 6, 2, np.concatenate([e.chain for e in ens]), np.concatenate([e.mc_time for e in ens]))
    for k in m_mem.estimates:
        assert m_glob[k].value == pytest.approx(m_mem[k].value, rel=1e-6)
        assert m_glob[k].error == pytest.approx(m_mem[k].error, rel=1e-6)
    assert m_glob.n_chains == 12


def test_measure_cli_rejects_missing_and_mixed(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["measure", str(tmp_path / "nothing*.h5")])
    assert e.value.code == 2 and "no ensemble file matches" in capsys.readouterr().err
    a = str(tmp_path / "x.h5")
    b = str(tmp_path / "y.h5")
    run_ensemble(EnsembleConfig(L=4, chains=2, therm=2, samples=5), a, progress=False)
    run_ensemble(EnsembleConfig(L=4, chains=2, therm=2, samples=5, m2=-3.0), b, progress=False)
    with pytest.raises(SystemExit) as e:
        main(["measure", a, b])
    assert e.value.code == 2 and "m2 = -3.0" in capsys.readouterr().err


def test_figures_are_written(tmp_path):
    lat = Lattice(8, 2)
    x = free.sample(lat, Couplings(0.5, 0.0), 500, gen(3))
    m = summarize(x[None], lat)
    M = x.mean((1, 2)).numpy()
    paths = [
        plot_configs({"reference": x[:4].numpy(), "generated": x[4:8].numpy()}, str(tmp_path / "c.png")),
        plot_magnetization_histograms({"data": M, "generated": M, "posterior data": M + 0.1, "posterior generated": M + 0.1}, str(tmp_path / "m.png")),
        plot_correlator(m.Ct, m.meff, str(tmp_path / "ct.png")),
        plot_tau_summary(m.estimates, str(tmp_path / "tau.png")),
    ]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_action_density_equipartition():
    """Free field, h = 0: ⟨S⟩ = tr(K (2K)⁻¹) = V/2, so ⟨S⟩/V = ½ exactly."""
    from lattice_msi.lattice import Phi4Action

    lat = Lattice(8, 2)
    c = Couplings(0.5, 0.0)
    x = free.sample(lat, c, 5000, gen(6))
    m = measure(config_features(x, lat, Phi4Action(lat, c)), 8, 2)
    assert abs(m["<S>/V"].value - 0.5) < K * m["<S>/V"].error

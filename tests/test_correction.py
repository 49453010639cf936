"""Unbiased φ⁴ estimates from a deliberately under-trained model (L = 8, m² = −4, λ = 4.572).

The model (scalar family, width 8, one block, 600 steps on a short HMC run) generates with 8
Heun steps: its raw U₄ misses the reference by several σ. Importance weights e^{−S}/q with the
exact density of that very map, and the independence-Metropolis chain built on them, must
agree with the reference (REFERENCE_L8, which HMC reproduces: test_hmc) within 3σ.
"""

import numpy as np
import pytest
import torch

from lattice_msi import tasks
from lattice_msi.correction import (
    compare_thermalisation,
    ess_fraction,
    importance_log_weights,
    independence_metropolis,
    thermalisation_time,
)
from lattice_msi.errors import LatticeMSIError
from lattice_msi.lattice import Couplings, Lattice, Phi4Action
from lattice_msi.mcmc.hmc import HMC, HMCConfig
from lattice_msi.mcmc.reference import REFERENCE_L8
from lattice_msi.models import DriftNet, NetConfig
from lattice_msi.observables.features import config_features
from lattice_msi.observables.measure import measure
from lattice_msi.training import TrainConfig, train

from conftest import gen

LAT = Lattice(8, 2)
PHI4 = Couplings(-4.0, 4.572)
KEYS = ("<|M|>", "V<M^2>", "U4", "<phi^2>", "xi2")


def hmc_data(n_chains=256, n_traj=150, every=5, seed=0):
    act = Phi4Action(LAT, PHI4)
    g = gen(seed)
    hmc = HMC(act, HMCConfig(0.1, 10))
    phi = 0.5 * torch.randn((n_chains,) + LAT.shape, generator=g)
    out = []
    for i in range(n_traj):
        phi = hmc.trajectory(phi, g).phi
        if i >= 50 and i % every == 0:
            out.append(phi.clone())
    return torch.cat(out)


@pytest.fixture(scope="module")
def weak_model(tmp_path_factory):
    cfg = NetConfig(L=8, family="scalar", width=8, depth=1)
    out = str(tmp_path_factory.mktemp("weak") / "m.pt")
    train(cfg, TrainConfig(steps=600, batch=128, lr=5e-3, ema=0.9, val_every=600), hmc_data().float(), out, progress=False)
    net = DriftNet(cfg)
    net.load_state_dict(torch.load(out, weights_only=True)["ema"])
    return net.eval()


def pull(e, key):
    ref, err = REFERENCE_L8[key]
    return (e.value - ref) / np.hypot(e.error, err)


def test_weights_and_independence_metropolis_remove_the_bias(weak_model):
    n = 800
    r = tasks.generate(LAT).run_with_density(weak_model, n, gen(1), steps=8, dtype=torch.float32)
    assert r.n_folded == 0
    x = r.x.double()
    lw = importance_log_weights(Phi4Action(LAT, PHI4).action(x).numpy(), r.log_q.numpy())
    f = config_features(x, LAT)
    raw = measure(f, 8, 2)
    rw = measure(f, 8, 2, log_weights=lw)
    chain = independence_metropolis(lw, seed=0)
    imh = measure({k: v[chain.index] for k, v in f.items()}, 8, 2)
    raw_p = {k: pull(raw[k], k) for k in KEYS}
    rw_p = {k: pull(rw[k], k) for k in KEYS}
    imh_p = {k: pull(imh[k], k) for k in KEYS}
    print(f"ESS/N {ess_fraction(lw):.3f}, IMH acceptance {chain.acceptance:.3f}, tau_int(|M|) {imh['<|M|>'].tau_int:.2f}")
    print("raw", raw_p, "\nreweighted", rw_p, "\nIMH", imh_p)
    assert abs(raw_p["U4"]) > 4, raw_p  # the model is visibly wrong
    assert all(abs(p) < 3 for p in rw_p.values()), rw_p
    assert all(abs(p) < 3 for p in imh_p.values()), imh_p
    assert 0.05 < ess_fraction(lw) < 0.9 and 0.1 < chain.acceptance < 0.9
    assert imh["<|M|>"].tau_int > 0.5  # rejections make the chain correlated; Γ sees it


def test_independence_metropolis_is_exact_on_a_known_discrete_target():
    """Proposals uniform on 4 states, weights ∝ target: the chain's frequencies match the target."""
    rng = np.random.default_rng(0)
    states = rng.integers(0, 4, 40000)
    target = np.array([0.1, 0.2, 0.3, 0.4])
    lw = np.log(target[states] / 0.25)
    ch = independence_metropolis(lw, seed=1)
    freq = np.bincount(states[ch.index], minlength=4) / len(states)
    assert np.abs(freq - target).max() < 0.01
    assert 0.5 < ch.acceptance < 0.9


def test_bad_weights_are_refused():
    with pytest.raises(LatticeMSIError, match="configuration 1"):
        importance_log_weights(np.array([1.0, np.inf]), np.array([0.0, 0.0]))
    with pytest.raises(LatticeMSIError, match="at least 2"):
        independence_metropolis(np.array([0.0]))


def test_thermalisation_time_definition():
    s = np.zeros((10, 4))
    s[:3] += 5.0  # three trajectories far from equilibrium
    s += np.random.default_rng(0).normal(0, 0.01, s.shape)
    assert thermalisation_time(s, 0.0, 0.001) == 3
    assert thermalisation_time(s[3:], 0.0, 0.001) == 0


def test_model_seeded_hmc_needs_less_thermalisation(weak_model):
    with torch.no_grad():
        seeds = tasks.generate(LAT).run(weak_model, 32, gen(2), steps=8, dtype=torch.float32).x.double()
    run = compare_thermalisation(seeds, Phi4Action(LAT, PHI4), HMCConfig(0.1, 10), n_traj=60, seed=3)
    print(run.table())
    assert run.t_seeded["s"] < run.t_scratch["s"]
    assert run.saved_per_chain > 0


def test_cli_density_correct_and_seeded_ensemble(tmp_path, capsys):
    """sample --density writes log q and the weight numbers; measure --correct uses them;
    ensemble --start-from seeds HMC chains; misuse gets one-line errors and no file."""
    from lattice_msi.cli import main
    from lattice_msi.io import read_attrs, read_ensemble

    lat = Lattice(4, 2)
    cfg = NetConfig(L=4, family="scalar", width=4, depth=1)
    model = str(tmp_path / "m.pt")
    data = 0.5 * torch.randn(512, 4, 4, generator=gen(0))
    train(cfg, TrainConfig(steps=20, batch=64, val_every=20), data, model, meta={"m2": -1.0, "lam": 1.0, "h": 0.0}, progress=False)
    out = str(tmp_path / "gen.h5")
    args = ["sample", "--model", model, "--task", "posterior", "--h", "0.1", "--b-min", "0.2", "--n", "48", "--batch", "16",
            "--steps", "4", "--density", "exact", "--out", out, "--no-progress"]
    assert main(args) == 0
    a = read_attrs(out)
    assert a["density"] == "exact" and 0 < a["ess_fraction"] <= 1 and 0 <= a["imh_acceptance"] <= 1 and a["h"] == 0.1
    assert "ESS/N" in capsys.readouterr().out
    import h5py

    with h5py.File(out, "r") as f:
        lq = np.asarray(f["log_q"])
        S = np.asarray(f["action"])
    assert lq.shape == (48,) and np.isfinite(lq).all()
    # the recorded action is the posterior's target (h = 0.1): ESS from the file agrees
    assert abs(ess_fraction(importance_log_weights(S, lq)) - a["ess_fraction"]) < 1e-12
    import os

    for kind in ("reweight", "imh"):
        assert main(["measure", out, "--correct", kind]) == 0
        assert ("importance-weighted" if kind == "reweight" else "independence Metropolis") in capsys.readouterr().out
    plain = str(tmp_path / "plain.h5")
    assert main(["sample", "--model", model, "--task", "generate", "--n", "16", "--steps", "2", "--out", plain, "--no-progress"]) == 0
    with pytest.raises(SystemExit) as e:
        main(["measure", plain, "--correct", "reweight"])
    assert e.value.code != 0 and "sample it with --density" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", "--model", model, "--task", "generate", "--n", "4", "--method", "em", "--density", "exact", "--out", str(tmp_path / "x.h5")])
    assert "deterministic" in capsys.readouterr().err and not os.path.exists(tmp_path / "x.h5")
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main(["sample", "--model", model, "--task", "generate", "--n", "4", "--device", "cuda", "--out", str(tmp_path / "c.h5")])
        assert "CUDA is not available" in capsys.readouterr().err
    ens = str(tmp_path / "seeded.h5")
    assert main(["ensemble", "--L", "4", "--m2", "-1", "--lam", "1", "--chains", "4", "--therm", "0", "--samples", "2",
                 "--start-from", plain, "--out", ens, "--no-progress"]) == 0
    assert read_ensemble(ens).phi.shape == (8, 4, 4)
    with pytest.raises(SystemExit):
        main(["ensemble", "--L", "4", "--chains", "32", "--therm", "0", "--samples", "1", "--start-from", plain, "--out", str(tmp_path / "y.h5"), "--no-progress"])
    assert "fewer than the 32 chains" in capsys.readouterr().err


def test_low_ess_is_flagged():
    x = torch.randn(200, 8, 8, generator=gen(9), dtype=torch.float64)
    f = config_features(x, LAT)
    lw = np.zeros(200)
    lw[3] = 12.0  # one weight dominates
    m = measure(f, 8, 2, log_weights=lw)
    assert m.ess < 2 and "not reliable" in m.table() and m.to_dict()["ess_reliable"] is False
    assert "not reliable" not in measure(f, 8, 2, log_weights=np.zeros(200)).table()


def test_density_sampling_resumes_to_the_same_file(tmp_path):
    """A density run killed after its first batch, rerun, equals an uninterrupted run (log q included)."""
    import h5py

    from lattice_msi.tasks.to_file import sample_to_file

    lat = Lattice(4, 2)
    cfg = NetConfig(L=4, family="scalar", width=4, depth=1)
    model = str(tmp_path / "m.pt")
    train(cfg, TrainConfig(steps=10, batch=32, val_every=10), 0.5 * torch.randn(256, 4, 4, generator=gen(0)), model, progress=False)
    net = DriftNet(cfg)
    net.load_state_dict(torch.load(model, weights_only=True)["ema"])
    act = Phi4Action(lat, Couplings(-1.0, 1.0, 0.1))
    theory = {"m2": -1.0, "lam": 1.0, "h": 0.1, "L": 4, "d": 2}

    def run(out, task):
        return sample_to_file(task, net.eval(), 24, out, lat, theory, {"n": 24}, seed=3, batch=8, steps=4, progress=False,
                              action=act, density="exact")

    full = str(tmp_path / "full.h5")
    run(full, tasks.posterior(lat, 0.1, b_min=0.2))
    part = str(tmp_path / "part.h5")
    task = tasks.posterior(lat, 0.1, b_min=0.2)
    calls = {"n": 0}
    orig = task.run_with_density

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed while sampling the third batch
        return orig(*a, **k)

    task.run_with_density = dying
    with pytest.raises(KeyboardInterrupt):
        run(part, task)
    with h5py.File(part, "r") as f:
        assert f["log_q"].shape[0] == 16 and f.attrs["status"] == "running"
    run(part, tasks.posterior(lat, 0.1, b_min=0.2))
    with h5py.File(full, "r") as a, h5py.File(part, "r") as b:
        np.testing.assert_array_equal(a["phi"][:], b["phi"][:])
        np.testing.assert_array_equal(a["log_q"][:], b["log_q"][:])
        assert a.attrs["ess_fraction"] == b.attrs["ess_fraction"] and b.attrs["status"] == "complete"

"""Drift networks and training: equivariance, Z2, size checks, resume, DDP (gloo), free-field accuracy."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from lattice_msi import ConfigError, FileMismatchError, tasks
from lattice_msi.interpolants import FreeFieldOracle, ModeNu, ScalarNu, SiteNu
from lattice_msi.lattice import Couplings, Lattice, free
from lattice_msi.models import DriftNet, NetConfig
from lattice_msi.observables import momentum_two_point
from lattice_msi.stats import gamma_method
from lattice_msi.training import TrainConfig, augment, train

from conftest import gen

LAT = Lattice(8, 2)


def random_net(**kw):
    torch.manual_seed(0)
    net = DriftNet(NetConfig(L=8, width=8, depth=2, **kw)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn(p.shape, dtype=p.dtype))
    return net


@pytest.mark.parametrize("family, nu, spectral", [("site", SiteNu, False), ("scalar", ScalarNu, False), ("fourier", ModeNu, True)])
def test_translation_equivariance_every_shift(family, nu, spectral):
    net = random_net(family=family, spectral=spectral)
    g = gen(1)
    b = nu(LAT).draw(torch.randn((2,) + LAT.shape, generator=g, dtype=torch.float64), g)
    with torch.no_grad():
        y = net.predict(b.x, b.op)
        assert y.abs().max() > 1e-3
        for sx in range(8):
            for sy in range(8):
                a = torch.roll(b.op.a, (sx, sy), (1, 2)) if family == "site" else b.op.a
                op = type(b.op)(b.op.family, a, 1 - a)
                yr = net.predict(torch.roll(b.x, (sx, sy), (1, 2)), op)
                torch.testing.assert_close(yr, torch.roll(y, (sx, sy), (1, 2)), rtol=0, atol=1e-12)


def test_z2_network_is_odd():
    net = random_net(family="site", z2=True)
    g = gen(2)
    b = SiteNu(LAT).draw(torch.randn((2,) + LAT.shape, generator=g, dtype=torch.float64), g)
    with torch.no_grad():
        torch.testing.assert_close(net.predict(-b.x, b.op), -net.predict(b.x, b.op), rtol=0, atol=1e-13)


def test_size_and_family_checks():
    net = random_net(family="site")
    g = gen(3)
    b = SiteNu(Lattice(16, 2)).draw(torch.randn((1, 16, 16), generator=g, dtype=torch.float64), g)
    with pytest.raises(ConfigError, match="built for L = 8, got L = 16"):
        net.predict(b.x, b.op)
    agnostic = random_net(family="site", size_agnostic=True)
    assert agnostic.predict(b.x, b.op).shape == (1, 16, 16)
    bm = ModeNu(LAT).draw(torch.randn((1, 8, 8), generator=g, dtype=torch.float64), g)
    with pytest.raises(ConfigError, match="trained on the site family, got a fourier operator"):
        net.predict(bm.x, bm.op)
    with pytest.raises(ConfigError, match="d = 4"):
        NetConfig(L=4, d=4)


def test_augmentation_is_a_symmetry_of_the_ensemble():
    x = torch.arange(64.0).reshape(1, 8, 8).repeat(3, 1, 1)
    y = augment(x, LAT, gen(4), z2=True)
    for i in range(3):  # the same multiset of values up to a sign
        assert torch.equal(torch.sort(y[i].abs().reshape(-1)).values, torch.sort(x[i].reshape(-1)).values)


SMALL = NetConfig(L=8, family="site", width=8, depth=1)


def _data(n=256, seed=0):
    return free.sample(LAT, Couplings(0.5, 0.0), n, gen(seed)).float()


def test_resume_matches_uninterrupted(tmp_path):
    cfg = TrainConfig(steps=12, batch=8, val_every=6, checkpoint_every=3, seed=7)
    data = _data()
    full = str(tmp_path / "full.pt")
    cut = str(tmp_path / "cut.pt")
    train(SMALL, cfg, data, full, progress=False)
    train(SMALL, cfg, data, cut, progress=False, stop_after=6)  # "killed" after a checkpoint at step 6
    assert torch.load(cut, weights_only=True)["step"] == 6
    train(SMALL, cfg, data, cut, progress=False)
    a, b = torch.load(full, weights_only=True), torch.load(cut, weights_only=True)
    assert a["step"] == b["step"] == 12
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        assert torch.equal(a["ema"][k], b["ema"][k]), k


def test_checkpoint_mismatch_is_refused(tmp_path):
    out = str(tmp_path / "c.pt")
    train(SMALL, TrainConfig(steps=2, batch=4), _data(64), out, meta={"m2": 0.5}, progress=False)
    with pytest.raises(FileMismatchError, match="family = 'site', not 'fourier'"):
        train(NetConfig(L=8, family="fourier", width=8, depth=1), TrainConfig(steps=4, batch=4), _data(64), out, progress=False)
    with pytest.raises(FileMismatchError, match="m2 = 0.5, not -4.0"):
        train(SMALL, TrainConfig(steps=4, batch=4), _data(64), out, meta={"m2": -4.0}, progress=False)


def test_ddp_two_ranks_gloo_match_single_process(tmp_path):
    from lattice_msi.mcmc import EnsembleConfig, run_ensemble

    ens = str(tmp_path / "e.h5")
    run_ensemble(EnsembleConfig(L=8, chains=8, therm=10, samples=16, seed=1), ens, progress=False)
    args = ["train", ens, "--family", "site", "--width", "8", "--depth", "1", "--steps", "6", "--batch", "8", "--val-every", "3", "--checkpoint-every", "3", "--device", "cpu", "--no-progress"]
    single = str(tmp_path / "single.pt")
    r = subprocess.run([sys.executable, "-m", "lattice_msi.cli", *args, "--out", single], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ddp = str(tmp_path / "ddp.pt")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533", "-m", "lattice_msi.cli", *args, "--out", ddp],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rank divergence 0.0e+00" in r.stdout
    a, b = torch.load(single, weights_only=True), torch.load(ddp, weights_only=True)
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-5, atol=1e-6)


def test_free_field_training_approaches_oracle(tmp_path):
    """Under a minute on CPU: the drift's relative error against the oracle, then G̃(k) of samples."""
    c = Couplings(0.5, 0.0)
    data = free.sample(LAT, c, 4000, gen(0)).float()
    ncfg = NetConfig(L=8, family="scalar", width=16, depth=2)
    out = str(tmp_path / "ff.pt")
    res = train(ncfg, TrainConfig(steps=800, batch=128, lr=5e-3, ema=0.99, val_every=800), data, out, progress=False)
    net = DriftNet(ncfg)
    net.load_state_dict(torch.load(out, weights_only=True)["ema"])
    oracle = FreeFieldOracle.from_couplings(LAT, c)
    g = gen(5)
    b = ScalarNu(LAT).draw(oracle.sample(512, g).float(), g)
    with torch.no_grad():
        e, eo = net(b.x, b.op), oracle(b.x.double(), b.op)
    rel = float((e.eta1.double() - eo.eta1).norm() / eo.eta1.norm())
    print(f"relative error of eta1 against the oracle: {rel:.3f}; validation loss {res.val}")
    assert rel < 0.08
    n = 600
    with torch.no_grad():
        x = tasks.generate(LAT).run(net, n, g, steps=32, dtype=torch.float32).x
    gk = momentum_two_point(x.double(), LAT).reshape(n, -1).numpy()
    exact = free.propagator(LAT, c).reshape(-1).numpy()
    pulls = np.array([gamma_method(gk[None, :, j], S=0).pull(exact[j]) for j in range(64)])
    assert np.abs(pulls).max() < 4.0


@pytest.mark.parametrize("kw, word", [(dict(width=0), "width = 0 must be a positive integer"), (dict(depth=2.5), "depth = 2.5"), (dict(kernel=True), "kernel = True")])
def test_net_config_rejects_bad_sizes(kw, word):
    with pytest.raises(ConfigError, match=word):
        NetConfig(L=8, **kw)


def test_train_config_rejects_bad_counts():
    with pytest.raises(ConfigError, match="steps = 2.5 must be a positive integer"):
        TrainConfig(steps=2.5)
    with pytest.raises(ConfigError, match="seed = -1 must be a non-negative integer"):
        TrainConfig(seed=-1)

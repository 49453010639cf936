"""Ensemble files: format round trip (h5py, xarray), resume after SIGKILL, refusals, shards, CLI errors."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import xarray as xr

from lattice_msi import FileMismatchError, IncompleteFileError
from lattice_msi.io import load_state, read_ensemble
from lattice_msi.mcmc import EnsembleConfig, run_ensemble, shard_path, shard_seed

SMALL = dict(L=6, chains=3, therm=10, samples=8, every=2, seed=5)


def test_round_trip_h5py_and_xarray(tmp_path):
    out = str(tmp_path / "e.h5")
    res = run_ensemble(EnsembleConfig(**SMALL, h=0.1), out, progress=False)
    assert res.n_configs == 24 and not res.already_complete
    assert not os.path.exists(out + ".resume")
    with h5py.File(out, "r") as f:
        assert f["phi"].shape == (24, 6, 6) and f["phi"].dtype == np.float32
        assert f["dH"].shape == (16, 3)
        a = f.attrs
        assert a["status"] == "complete" and float(np.ravel(a["m2"])[0]) == -4.0
        assert float(np.ravel(a["h"])[0]) == 0.1 and a["algorithm"] == "hmc"
        phi_h5 = f["phi"][...]
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["phi"].dims == ("config", "x", "y")
    assert ds.attrs["L"] == 6 and ds.attrs["lam"] == 4.572 and "run_config" in ds.attrs
    np.testing.assert_array_equal(ds["phi"].values, phi_h5)
    np.testing.assert_array_equal(ds["chain"].values, np.tile(np.arange(3), 8))
    np.testing.assert_array_equal(ds["mc_time"].values[::3], 10 + 2 * np.arange(1, 9))
    assert ds["accepted"].dims == ("trajectory", "replica")
    ds.close()
    ens = read_ensemble(out)
    assert ens.by_chain().shape == (3, 8, 6, 6)
    assert ens.attrs["run_config"]["m2"] == -4.0 and ens.attrs["version"]


@pytest.mark.parametrize("d", [1, 3])
def test_other_dimensions(tmp_path, d):
    out = str(tmp_path / f"e{d}.h5")
    run_ensemble(EnsembleConfig(L=4, d=d, chains=2, therm=2, samples=3, seed=1), out, progress=False)
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["phi"].dims == ("config",) + ("x", "y", "z")[:d]
    ds.close()


def test_rerun_of_complete_file_and_mismatch(tmp_path):
    out = str(tmp_path / "e.h5")
    cfg = EnsembleConfig(**SMALL)
    run_ensemble(cfg, out, progress=False)
    assert run_ensemble(cfg, out, progress=False).already_complete
    other = EnsembleConfig(**{**SMALL, "m2": -3.0})
    with pytest.raises(FileMismatchError, match="m2 = -4.0"):
        run_ensemble(other, out, progress=False)
    more = EnsembleConfig(**{**SMALL, "samples": 9})
    with pytest.raises(FileMismatchError, match="samples = 8"):
        run_ensemble(more, out, progress=False)


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lattice_msi.cli", *args], capture_output=True, text=True, **kw)


ARGS = ["ensemble", "--L", "8", "--chains", "4", "--samples", "200", "--every", "1", "--seed", "3", "--no-progress"]


@pytest.mark.parametrize(
    "phase, kernel",
    [("therm", "eager"), ("production", "eager"), pytest.param("production", "compiled", marks=pytest.mark.slow)],
)
def test_sigkill_then_resume_is_identical(tmp_path, phase, kernel):
    """compiled: chains-last fields and SW moves, checkpointed in that layout."""
    therm = "400" if phase == "therm" else "20"
    full = str(tmp_path / "full.h5")
    cut = str(tmp_path / "cut.h5")
    args = ARGS + (["--kernel", "compiled", "--cluster-every", "2"] if kernel == "compiled" else [])
    r = _cli(*args, "--therm", therm, "--out", full)
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen([sys.executable, "-m", "lattice_msi.cli", *args, "--therm", therm, "--out", cut])
    state = cut + ".resume"
    deadline = time.time() + (60 if kernel == "eager" else 180)
    while time.time() < deadline:
        if os.path.exists(state):
            try:
                st = load_state(state)
            except Exception:
                st = None
            if st and ((phase == "therm" and st["n_traj"] >= 100) or (phase == "production" and st["n_configs"] >= 300)):
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with pytest.raises(IncompleteFileError, match="incomplete"):
        read_ensemble(cut)
    partial = read_ensemble(cut, allow_incomplete=True)
    assert partial.phi.shape[0] < 800
    r = _cli(*args, "--therm", therm, "--out", cut)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stdout or phase == "therm"
    a, b = read_ensemble(full), read_ensemble(cut)
    assert a.phi.shape[0] == b.phi.shape[0] == 800
    assert (a.phi == b.phi).all()
    np.testing.assert_array_equal(a.chain, b.chain)
    np.testing.assert_array_equal(a.mc_time, b.mc_time)
    with h5py.File(full) as fa, h5py.File(cut) as fb:
        np.testing.assert_array_equal(fa["dH"][...], fb["dH"][...])
        np.testing.assert_array_equal(fa["accept_rate"][...], fb["accept_rate"][...])
        assert fa.attrs["step_size"] == fb.attrs["step_size"]


def test_shards_have_own_seed_and_file(tmp_path):
    out = str(tmp_path / "e.h5")
    assert shard_path(out, 2, 4).endswith("e.shard2-of-4.h5")
    assert len({shard_seed(5, s) for s in range(8)}) == 8
    paths = []
    for s in range(2):
        r = run_ensemble(EnsembleConfig(**SMALL, shard=s, n_shards=2), out, progress=False)
        paths.append(r.path)
    e0, e1 = read_ensemble(paths[0]), read_ensemble(paths[1])
    assert not np.allclose(e0.phi.numpy(), e1.phi.numpy())
    assert set(e0.chain) == {0, 1, 2} and set(e1.chain) == {3, 4, 5}
    assert not os.path.exists(out)


def test_torchrun_environment_selects_shard(tmp_path):
    out = str(tmp_path / "t.h5")
    env = dict(os.environ, RANK="1", WORLD_SIZE="3", LOCAL_RANK="1")
    r = _cli("ensemble", "--L", "4", "--chains", "2", "--therm", "2", "--samples", "2", "--device", "cpu", "--no-progress", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(str(tmp_path / "t.shard1-of-3.h5"))


@pytest.mark.parametrize(
    "extra, word",
    [
        (["--L", "1"], "L = 1"),
        (["--lam", "-1"], "lam = -1.0"),
        (["--lam", "0", "--m2", "-0.5"], "m2 = -0.5"),
        (["--m2", "nan"], "m2 = nan"),
        (["--d", "5"], "d = 5"),
        (["--step-size", "0"], "step_size = 0.0"),
        (["--chains", "0"], "'0' must be a positive integer"),
        (["--shard", "3/2"], "'3/2'"),
        (["--target-accept", "1.5"], "target_accept = 1.5"),
    ],
)
def test_cli_bad_input_one_line_no_file(tmp_path, capsys, extra, word):
    from lattice_msi.cli import main

    out = tmp_path / "bad.h5"
    with pytest.raises(SystemExit) as exc:
        main(["ensemble", "--out", str(out), "--no-progress", "--therm", "1", "--samples", "1", *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], err
    assert not out.exists()


def test_cli_subprocess_exit_code_no_traceback(tmp_path):
    r = _cli("ensemble", "--out", str(tmp_path / "x.h5"), "--lam", "-2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "lattice-msi: error: lam = -2.0 is negative: e^-S is not normalisable (need lam >= 0)"


def test_cli_mismatch_and_measure(tmp_path, capsys):
    from lattice_msi.cli import main

    out = str(tmp_path / "m.h5")
    base = ["ensemble", "--L", "4", "--chains", "2", "--therm", "5", "--samples", "20", "--no-progress", "--out", out]
    assert main(base) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(base[:-2] + ["--m2", "-3", "--out", out])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "m2 = -4.0" in err and len(err.strip().splitlines()) == 1
    assert main(["measure", out]) == 0
    assert "U4" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["measure", str(tmp_path / "missing.h5")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "missing.h5" in err and len(err.strip().splitlines()) == 1


def test_file_without_a_later_setting_matches_its_default(tmp_path):
    """A file whose run_config predates a setting (here cluster_every) is still complete for a
    rerun at that setting's default, and refused for another value."""
    import json

    out = str(tmp_path / "old.h5")
    cfg = EnsembleConfig(**SMALL)
    run_ensemble(cfg, out, progress=False)
    with h5py.File(out, "a") as f:
        rc = json.loads(f.attrs["run_config"])
        del rc["cluster_every"]
        f.attrs["run_config"] = json.dumps(rc)
    assert run_ensemble(cfg, out, progress=False).already_complete
    with pytest.raises(FileMismatchError, match="cluster_every = 0"):
        run_ensemble(EnsembleConfig(**SMALL, cluster_every=2), out, progress=False)

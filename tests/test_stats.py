"""Γ-method: AR(1) known answers, i.i.d. data, derived quantities, cross-check with pyerrors."""

import math

import numpy as np
import pytest
import torch

from lattice_msi import ConfigError
from lattice_msi.stats import format_value_error, gamma_method


def ar1(rho, n_chains, n, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((n_chains, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / math.sqrt(1 - rho**2)
    for i in range(1, n):
        x[:, i] = rho * x[:, i - 1] + e[:, i]
    return x


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_ar1_tau_and_error(rho):
    x = ar1(rho, 16, 20000, seed=int(rho * 10))
    est = gamma_method(x)
    tau_exact = (1 + rho) / (2 * (1 - rho))
    err_exact = math.sqrt(2 * tau_exact / (1 - rho**2) / x.size)
    assert abs(est.tau_int - tau_exact) < 3 * est.tau_int_error
    assert abs(est.error / err_exact - 1) < 0.1
    assert abs(est.value) < 4 * err_exact


def test_iid_gives_sigma_over_sqrt_n_and_tau_half():
    rng = np.random.default_rng(0)
    x = 2.0 + 3.0 * rng.standard_normal((1, 50000))
    est = gamma_method(x)
    assert abs(est.error / (3.0 / math.sqrt(x.size)) - 1) < 0.05
    assert abs(est.tau_int - 0.5) < 3 * est.tau_int_error + 0.02
    assert abs(est.value - 2.0) < 4 * 3.0 / math.sqrt(x.size)


def test_chains_of_unequal_length():
    x = ar1(0.7, 3, 6000, seed=4)
    est = gamma_method([x[0], x[1, :3000], x[2, :4500]])
    assert est.n_samples == 13500 and est.n_chains == 3
    assert abs(est.tau_int - 0.85 / 0.3) < 3 * est.tau_int_error


def test_derived_quantity_matches_pyerrors():
    pe = pytest.importorskip("pyerrors")
    a = 1.0 + 0.1 * ar1(0.8, 4, 5000, seed=1)
    b = 2.0 + 0.1 * ar1(0.6, 4, 5000, seed=2) + 0.05 * a
    data = np.stack([a, b], -1)
    ours = gamma_method(data, lambda m: m[0] / m[1] + torch.log(m[1]))
    names = [f"ens|r{i}" for i in range(4)]
    oa, ob = pe.Obs(list(a), names), pe.Obs(list(b), names)
    theirs = oa / ob + np.log(ob)
    theirs.gamma_method(S=1.5)
    assert ours.value == pytest.approx(theirs.value, rel=1e-12)
    assert ours.error == pytest.approx(theirs.dvalue, rel=0.05)
    assert ours.tau_int == pytest.approx(theirs.e_tauint["ens"], rel=0.05)


def test_constant_data_has_zero_error():
    est = gamma_method(np.full((2, 100), 3.5))
    assert est.value == 3.5 and est.error == 0.0


def test_bad_input_rejected():
    with pytest.raises(ConfigError, match="non-finite"):
        gamma_method(np.array([[1.0, np.nan, 2.0]]))
    with pytest.raises(ConfigError, match="without a function"):
        gamma_method(np.zeros((2, 10, 3)))
    with pytest.raises(ConfigError, match="too few"):
        gamma_method(np.zeros((1, 1)))


def test_format():
    assert format_value_error(0.33031, 0.00203) == "0.3303(20)"
    assert format_value_error(8.2412, 0.0812) == "8.241(81)"
    assert format_value_error(1234.5, 56.0) == "1234(56)"


def test_anticorrelated_chains_never_get_zero_error():
    """x_{i+1} = −x_i + small noise: the window sum vanishes; the error must still be honest."""
    rng = np.random.default_rng(3)
    R, N = 32, 600
    x = np.empty((R, N))
    x[:, 0] = rng.standard_normal(R)
    for i in range(1, N):
        x[:, i] = -0.999 * x[:, i - 1] + 0.045 * rng.standard_normal(R)
    est = gamma_method(x + 2.0)
    # the exact error of the mean of 32 chains of this AR(1) with ρ = −0.999
    rho, s2 = -0.999, 0.045**2 / (1 - 0.999**2)
    var_mean_chain = s2 / N * (1 + rho) / (1 - rho)  # asymptotic, plus the start-value term below
    start = s2 * (1 / N) ** 2 * ((1 - rho**N) / (1 - rho)) ** 2
    exact = math.sqrt((var_mean_chain + start) / R)
    assert est.error > 0
    assert 0.5 < est.error / exact < 2.0

"""Every task, for the ODE (Heun) and the SDE (Euler–Maruyama), on the free-field oracle, L = 8, m² = 0.5.

Statistical checks are |estimate − exact| < 4σ with σ from the package's Γ-method (i.i.d. here).
"""

import numpy as np
import pytest
import torch

from lattice_msi import ConfigError, tasks
from lattice_msi.interpolants import FreeFieldOracle, TiltDomainError
from lattice_msi.interpolants.multiscale import low_mode_mask, prolong, restrict
from lattice_msi.lattice import Couplings, Lattice, fft, free, khat2
from lattice_msi.observables import momentum_two_point
from lattice_msi.stats import gamma_method

from conftest import gen

K = 4.0
LAT = Lattice(8, 2)
FREE = Couplings(0.5, 0.0)
N = 2000
METHODS = [("heun", 0.0), ("sde-heun", 1.0)]


def oracle(c=FREE):
    return FreeFieldOracle.from_couplings(LAT, c)


def pulls_G(x, exact, mean=0.0):
    gk = momentum_two_point(x - mean, LAT).reshape(x.shape[0], -1).numpy()
    ex = exact.reshape(-1).numpy()
    out = []
    for j in range(gk.shape[1]):
        e = gamma_method(gk[None, :, j], S=0)
        out.append((e.value - ex[j]) / e.error)
    return np.array(out)


def run(task, method, eps, seed, steps, n=N, drift=None):
    return task.run(drift or oracle(), n, gen(seed), steps=steps, method=method, eps=eps).x


ODE, SDE = METHODS
PATHS = {
    "generate": (lambda: tasks.generate(LAT), 200),
    "coarse-to-fine": (lambda: tasks.coarse_to_fine(LAT), 24),
    "autoregressive": (lambda: tasks.any_order(LAT, "raster"), 16),
    "random order": (lambda: tasks.any_order(LAT, "random", gen(0), overlap=4.0), 8),
    "block order": (lambda: tasks.any_order(LAT, "block", block=4), 40),
}
CASES = [(n, m) for n in ("generate", "coarse-to-fine", "autoregressive") for m in (ODE, SDE)]
CASES += [("random order", ODE), ("block order", ODE)]  # the SDE on these adds little but time


@pytest.mark.parametrize("name, method_eps", CASES)
def test_generation_paths_reproduce_propagator(name, method_eps):
    method, eps = method_eps
    make, steps = PATHS[name]
    x = run(make(), method, eps, seed=hash(name) % 1000, steps=steps)
    p = pulls_G(x, free.propagator(LAT, FREE))
    assert np.abs(p).max() < K, (name, np.abs(p).max())
    assert 0.4 < np.mean(p**2) < 1.8


def test_euler_maruyama_generation():
    """EM is weak order 1: enough steps put its bias well below σ."""
    x = run(tasks.generate(LAT), "em", 1.0, seed=21, steps=400, n=1000)
    p = pulls_G(x, free.propagator(LAT, FREE))
    assert np.abs(p).max() < K and np.mean(p**2) < 1.8


def _schur(C, mu, known):
    k = known.reshape(-1)
    u = ~k
    Cuu, Cuk, Ckk = C[u][:, u], C[u][:, k], C[k][:, k]
    return Cuk, Ckk, Cuu, u, k


@pytest.mark.parametrize("method, eps", METHODS)
def test_inpainting_matches_schur_complement(method, eps):
    g = gen(11)
    o = oracle()
    C = o.covariance_dense()
    mask = torch.zeros(LAT.shape, dtype=torch.bool)
    mask[2:6, 1:7] = True  # a block of observed sites
    observed = o.sample(1, g)[0]
    res = run(tasks.inpaint(LAT, mask, observed), method, eps, seed=12, steps=200)
    # observed sites bit-for-bit unchanged
    assert torch.equal(res[:, mask], observed[mask].expand(N, -1))
    Cuk, Ckk, Cuu, u, k = _schur(C, None, mask)
    xk = observed.reshape(-1)[k]
    cmean = Cuk @ torch.linalg.solve(Ckk, xk)
    ccov = Cuu - Cuk @ torch.linalg.solve(Ckk, Cuk.T)
    xu = res.reshape(N, -1)[:, u].numpy()
    for j in range(xu.shape[1]):
        m = gamma_method(xu[None, :, j], S=0)
        assert abs(m.value - float(cmean[j])) < K * m.error
        dev2 = (xu[:, j] - float(cmean[j])) ** 2
        v = gamma_method(dev2[None], S=0)
        assert abs(v.value - float(ccov[j, j])) < K * v.error


@pytest.mark.parametrize("method, eps", METHODS)
def test_superres_reproduces_high_mode_law(method, eps):
    g = gen(13)
    o = oracle()
    fine_sample = o.sample(1, g)
    coarse = restrict(fine_sample, LAT)[0]
    res = run(tasks.superres(LAT, coarse), method, eps, seed=14, steps=24)
    low = low_mode_mask(LAT)
    xh = fft(res, LAT)
    yh = fft(prolong(coarse[None], Lattice(4, 2)), LAT)[0]
    assert (xh[:, low] - yh[low]).abs().max() < 1e-10  # low modes are the coarse field's
    # high modes: independent of the low ones for the free field, so their law is the marginal
    p = pulls_G(res, free.propagator(LAT, FREE))
    high = (~low).reshape(-1).numpy()
    assert np.abs(p[high]).max() < K


def test_deblurring_posterior_is_exact():
    g = gen(15)
    o = oracle()
    x1 = o.sample(1, g)
    g_k = torch.exp(-0.5 * khat2(LAT))  # Gaussian blur
    sigma = 0.3
    y = torch.fft.ifftn(torch.fft.fftn(x1, dim=(1, 2), norm="ortho") * g_k, dim=(1, 2), norm="ortho").real
    y = y + sigma * torch.randn(y.shape, generator=g, dtype=torch.float64)
    task = tasks.deblur(LAT, y[0], g_k, sigma)
    res = task.run(o, N, gen(16), steps=400, method="em")
    c = free.propagator(LAT, FREE)
    post_var = 1.0 / (1.0 / c + g_k**2 / sigma**2)  # per mode, exact
    post_mean_hat = post_var * g_k * fft(y, LAT)[0] / sigma**2
    rh = fft(res.x, LAT)
    dev = (rh - post_mean_hat).abs() ** 2  # E|x̂ − m̂|² = posterior variance (per complex mode)
    for idx in np.ndindex(*LAT.shape):
        e = gamma_method(dev[(slice(None),) + idx][None].numpy(), S=0)
        assert abs(e.value - float(post_var[idx])) < K * e.error, idx
    mhat = rh.mean(0)
    assert ((mhat - post_mean_hat).abs() / torch.sqrt(post_var / N)).max() < K
    with pytest.raises(ConfigError, match="needs method = 'em' with eps = 'localization'"):
        task.run(o, 2, gen(0), method="heun")


@pytest.mark.parametrize("method, eps", METHODS)
def test_linear_tilt_gives_shifted_mean_same_covariance(method, eps):
    h = 0.3
    x = run(tasks.posterior(LAT, h), method, eps, seed=17, steps=200)
    mean = h / (2 * FREE.m2)
    M = gamma_method(x.mean((1, 2))[None].numpy(), S=0)
    assert abs(M.value - mean) < K * M.error
    p = pulls_G(x, free.propagator(LAT, FREE), mean=mean)
    assert np.abs(p).max() < K


@pytest.mark.parametrize("b_min", [0.05, 0.3])
def test_late_start_with_mean_matching_is_unbiased(b_min):
    """The first segment near pure noise runs untilted; the switch correction removes its bias."""
    h = 0.3
    t = tasks.posterior(LAT, h, b_min=b_min)
    x = t.run(oracle(), N, gen(18), steps=100).x
    M = gamma_method(x.mean((1, 2))[None].numpy(), S=0)
    assert abs(M.value - h / (2 * FREE.m2)) < K * M.error
    t.tilt["match_mean"] = False  # without it the late start visibly costs ~ b_min · Δμ
    x = t.run(oracle(), N, gen(18), steps=100).x
    bias = h / (2 * FREE.m2) - x.mean().item()
    assert bias > 0.5 * b_min * h / (2 * FREE.m2)


@pytest.mark.parametrize("method, eps", METHODS)
@pytest.mark.parametrize("c", [0.25, 1.0])
def test_mass_shift_heavier(c, method, eps):
    x = run(tasks.mass_shift(LAT, c), method, eps, seed=19, steps=200)
    exact = free.propagator(LAT, Couplings(FREE.m2 + c, 0.0))
    p = pulls_G(x, exact)
    assert np.abs(p).max() < K


def test_mass_shift_lighter_is_refused():
    with pytest.raises(TiltDomainError, match="refused"):
        tasks.mass_shift(LAT, -0.2).run(oracle(), 4, gen(0))


def test_hopping_change_as_per_mode_tilt_on_coarse_to_fine():
    """A Fourier-diagonal q_k (changing the kinetic term) along the coarse-to-fine path."""
    from lattice_msi.interpolants import TiltedDrift
    from lattice_msi.sampling import sample

    q = -0.2 * khat2(LAT)  # heavier at high k: p_r ≥ 0 everywhere where k̂² > 0 ...
    q = q - 0.1  # ... and at k = 0
    task = tasks.coarse_to_fine(LAT)
    drift = TiltedDrift(oracle(), q=q)
    x = sample(drift, task.path, task.init(N, gen(20), torch.float64), task.path.grid(24), "heun").x
    exact = 1.0 / (1.0 / free.propagator(LAT, FREE) - q)
    assert np.abs(pulls_G(x, exact)).max() < K


def test_multiscale_chain_coarse_then_superres():
    """Coarse model (exact low-mode marginal at L/2) then fine super-resolution: the full fine law."""
    from lattice_msi.interpolants.multiscale import _coarse_index, coarse_nyquist_mask

    coarse = Lattice(4, 2)
    Gf = free.propagator(LAT, FREE)
    spec = (Gf * low_mode_mask(LAT))[tuple(_coarse_index(coarse))] / 4.0
    spec = torch.where(coarse_nyquist_mask(coarse), torch.ones_like(spec), spec)  # never used: known zeros
    coarse_oracle = FreeFieldOracle(coarse, spec, 0.0)
    res = tasks.multiscale_generate(coarse_oracle, oracle(), LAT, N, gen(22), steps=24)
    assert np.abs(pulls_G(res.x, Gf)).max() < K

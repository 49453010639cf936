"""The log-density of the discretised map (sampling.density) against exact answers.

- Free-field oracle: Euler and Heun maps are affine, X = M X₀ + c, so the generated law is the
  Gaussian N(c, M Mᵀ) (on the free sites for inpainting); log q must match it to rounding.
- A small interacting drift (a random network): the exact log-det must equal the log-det of
  the autograd Jacobian of the whole map; the Hutchinson estimate must agree within its error.
"""

import math

import pytest
import torch

from lattice_msi import tasks
from lattice_msi.errors import ConfigError
from lattice_msi.interpolants import FreeFieldOracle
from lattice_msi.lattice import Couplings, Lattice
from lattice_msi.models import DriftNet, NetConfig
from lattice_msi.sampling import affine_map
from lattice_msi.sampling.density import sample_with_density

from conftest import gen

LAT = Lattice(4, 2)
FREE = Couplings(0.5, 0.0, 0.0)


def gaussian_log_density(x, mean, cov):
    d = x - mean
    chol = torch.linalg.cholesky(cov)
    sol = torch.cholesky_solve(d.T, chol).T
    return -0.5 * (d * sol).sum(1) - torch.log(torch.diagonal(chol)).sum() - 0.5 * len(mean) * math.log(2 * math.pi)


@pytest.mark.parametrize("method", ["euler", "heun"])
@pytest.mark.parametrize("name", ["generate", "posterior", "inpaint", "coarse-to-fine"])
def test_oracle_density_is_the_exact_gaussian_of_the_map(method, name):
    o = FreeFieldOracle.from_couplings(LAT, FREE)
    V = LAT.volume
    if name == "generate":
        task = tasks.generate(LAT)
    elif name == "posterior":
        task = tasks.posterior(LAT, 0.3, b_min=0.3)
    elif name == "coarse-to-fine":
        task = tasks.coarse_to_fine(LAT)
    else:
        mask = torch.zeros(LAT.shape, dtype=torch.bool)
        mask[:2] = True
        task = tasks.inpaint(LAT, mask, o.sample(1, gen(1))[0])
    steps = 6
    shift = task.calibrate_shift(o, 64, gen(2), steps=steps, method=method)
    assert (shift is not None) == (name == "posterior")
    res = task.run_with_density(o, 7, gen(3), steps=steps, method=method, shift=shift)
    am = affine_map(task.drift_for(o), task.path, task.path.grid(steps), method, LAT, fixed=task._fixed(torch.zeros(1, dtype=torch.float64)), shift=shift)
    free = torch.arange(V) if task.fixed is None else torch.nonzero(~task.fixed[0].flatten()).flatten()
    M = am.M[free][:, free]
    exact = gaussian_log_density(res.x.flatten(1)[:, free], am.c[free], M @ M.T)
    assert res.n_free == len(free) and res.n_folded == 0
    torch.testing.assert_close(res.log_q, exact, rtol=1e-10, atol=1e-9)
    if task.fixed is not None:  # held sites are untouched
        assert torch.equal(res.x.flatten(1)[:, task.fixed[0].flatten()], task.fixed[1].flatten()[task.fixed[0].flatten()].expand(7, -1))


def random_net(seed=0):
    torch.manual_seed(seed)
    net = DriftNet(NetConfig(L=4, d=2, family="site", width=8, depth=1, embed=8)).double()
    with torch.no_grad():  # the output layer starts at zero; make the drift genuinely non-linear
        net.out.weight.normal_(0.0, 0.3)
    return net.eval()


def test_exact_logdet_equals_autograd_jacobian_of_the_whole_map():
    net = random_net()
    task = tasks.posterior(LAT, 0.2, b_min=0.3)
    steps, method = 5, "heun"
    shift = task.calibrate_shift(net, 32, gen(4), steps=steps, method=method)
    g = gen(5)
    x0 = task.init(3, g, torch.float64)
    drift = task.drift_for(net)

    def whole_map(z):
        from lattice_msi.sampling import sample

        return sample(drift, task.path, z[None], task.path.grid(steps), method, shift=shift).x[0]

    res = sample_with_density(drift, task.path, x0, task.path.grid(steps), method, shift=shift)
    for b in range(3):
        J = torch.autograd.functional.jacobian(whole_map, x0[b]).reshape(LAT.volume, LAT.volume)
        z = x0[b].flatten()
        expect = -0.5 * (z @ z) - 0.5 * LAT.volume * math.log(2 * math.pi) - torch.linalg.slogdet(J)[1]
        torch.testing.assert_close(res.log_q[b], expect, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(res.x[b], whole_map(x0[b]))
    # the network really is non-linear: the log-det differs between samples
    assert float(res.log_q.std()) > 0


def test_hutchinson_estimate_agrees_with_exact_within_its_error():
    net = random_net(1)
    task = tasks.generate(LAT)
    exact = task.run_with_density(net, 6, gen(6), steps=8)
    est = task.run_with_density(net, 6, gen(6), steps=8, logdet="hutchinson", probes=64, order=8)
    torch.testing.assert_close(est.x, exact.x)
    pull = (est.log_q - exact.log_q) / est.log_q_err
    assert bool((pull.abs() < 4).all()), pull
    assert bool((est.log_q_err > 0).all())


def test_density_refuses_what_it_cannot_do():
    o = FreeFieldOracle.from_couplings(LAT, FREE)
    with pytest.raises(ConfigError, match="deterministic"):
        tasks.generate(LAT).run_with_density(o, 2, gen(0), method="em")
    with pytest.raises(ConfigError, match="shift must be given"):
        tasks.posterior(LAT, 0.3, b_min=0.3).run_with_density(o, 2, gen(0), steps=6)
    with pytest.raises(ConfigError, match="superres"):
        tasks.superres(Lattice(8, 2), torch.zeros(4, 4)).run_with_density(o, 2, gen(0))
    with pytest.raises(ConfigError, match="hutchinson needs"):
        tasks.generate(LAT).run_with_density(o, 2, gen(0), logdet="hutchinson", probes=0)

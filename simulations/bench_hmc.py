"""Benchmark: site-leapfrog updates per second of the package's HMC vs a plain torch.roll HMC.

Both run the same trajectory (same fields, momenta, ε and number of steps) in the same process;
the script checks that they agree and prints the throughput ratio.

    python simulations/bench_hmc.py [--L 32] [--chains 1024] [--dtype float32] [--device cpu]
"""

import argparse
import time

import torch

from lattice_msi.lattice import Couplings, Lattice, Phi4Action
from lattice_msi.mcmc import HMC, HMCConfig


def plain_force(phi, m2, lam, h, d):
    nb = sum(torch.roll(phi, 1, a) + torch.roll(phi, -1, a) for a in range(1, d + 1))
    return 2.0 * nb - 2.0 * (2 * d + m2) * phi - 4.0 * lam * phi**3 + h


def plain_leapfrog(phi, p, eps, n, m2, lam, h, d):
    p = p + 0.5 * eps * plain_force(phi, m2, lam, h, d)
    for i in range(n):
        phi = phi + eps * p
        p = p + (eps if i < n - 1 else 0.5 * eps) * plain_force(phi, m2, lam, h, d)
    return phi, p


def timed(fn, repeats, sync):
    fn()  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=32)
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--chains", type=int, default=1024)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--eps", type=float, default=0.07)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    dtype, dev = getattr(torch, a.dtype), torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    lat = Lattice(a.L, a.d)
    c = Couplings(-4.0, 4.572, 0.0)
    hmc = HMC(Phi4Action(lat, c), HMCConfig(a.eps, a.steps))
    g = torch.Generator(device=dev).manual_seed(0)
    phi0 = 0.5 * torch.randn((a.chains,) + lat.shape, generator=g, dtype=dtype, device=dev)
    p0 = torch.randn(phi0.shape, generator=g, dtype=dtype, device=dev)

    x, q = phi0.clone(), p0.clone()
    hmc.integrate(x, q, a.eps, a.steps)
    xr, qr = plain_leapfrog(phi0, p0, a.eps, a.steps, c.m2, c.lam, c.h, a.d)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    diff = float((x - xr).abs().max())
    assert diff < tol, f"package and plain trajectories differ by {diff}"

    def pkg():
        x, q = phi0.clone(), p0.clone()
        hmc.integrate(x, q, a.eps, a.steps)

    def plain():
        plain_leapfrog(phi0, p0, a.eps, a.steps, c.m2, c.lam, c.h, a.d)

    t_plain = timed(plain, a.repeats, sync)
    t_pkg = timed(pkg, a.repeats, sync)
    work = a.chains * lat.volume * a.steps
    print(f"L={a.L} d={a.d} chains={a.chains} {a.dtype} {dev} eps={a.eps} steps={a.steps} threads={torch.get_num_threads()}")
    print(f"plain torch.roll : {work / t_plain:.3e} site-leapfrog updates/s")
    print(f"lattice_msi HMC  : {work / t_pkg:.3e} site-leapfrog updates/s")
    print(f"ratio package/plain = {t_plain / t_pkg:.2f}  (max |Δφ| between them {diff:.1e})")


if __name__ == "__main__":
    main()

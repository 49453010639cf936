"""Benchmark: site-leapfrog updates per second of the package's HMC kernels vs a plain torch.roll HMC.

For each chain count and dtype, in one run: the plain torch.roll trajectory (the baseline), the
package's eager in-place integrator and its fused compiled one (kernel="compiled") on chains-first
fields (compiled-cf) and on chains-last fields (compiled, the layout run_ensemble uses); all run
the same trajectory from the same fields and momenta and are checked to agree. The machine's
copy bandwidth is measured in the same run (tensor copy, bytes read + written per second) and
the bound it implies — 4 field values (φ, p read and written) per site update — is compared
with what each kernel achieves.

    python simulations/bench_hmc.py [--L 32] [--chains 1024 8192] [--dtype float32 float64] [--device cpu]
"""

import argparse
import time

import torch

from lattice_msi.lattice import Couplings, Lattice, Phi4Action
from lattice_msi.mcmc import HMC, HMCConfig
from lattice_msi.mcmc.layout import to_chains_last


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
    fn()  # warm-up (and compilation)
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def timed_interleaved(fns: dict, repeats: int, sync) -> dict:
    """Best (shortest) time of each function, the variants interleaved so that drifts of a shared
    machine hit all alike. The best time, not the median: the plain baseline's speed at 1024 chains
    depends on whether glibc serves its 4 MB temporaries from the heap or from fresh mmaps (page
    faults), which changes from repeat to repeat; its best repeat is the warm baseline."""
    for f in fns.values():
        f()  # warm-up (and compilation)
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def copy_bandwidth(n_bytes: int, dtype, dev, sync) -> float:
    """Bytes moved (read + write) per second by a large tensor copy."""
    x = torch.empty(n_bytes // torch.tensor([], dtype=dtype).element_size(), dtype=dtype, device=dev).fill_(1.0)
    y = torch.empty_like(x)
    t = timed(lambda: y.copy_(x), 10, sync)
    return 2 * x.numel() * x.element_size() / t


def run(L, d, chains, dtype, dev, eps, steps, repeats, sync):
    lat = Lattice(L, d)
    c = Couplings(-4.0, 4.572, 0.0)
    act = Phi4Action(lat, c)
    g = torch.Generator(device=dev).manual_seed(0)
    phi0 = 0.5 * torch.randn((chains,) + lat.shape, generator=g, dtype=dtype, device=dev)
    p0 = torch.randn(phi0.shape, generator=g, dtype=dtype, device=dev)
    xr, _ = plain_leapfrog(phi0, p0, eps, steps, c.m2, c.lam, c.h, d)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    fns = {"plain": lambda: plain_leapfrog(phi0, p0, eps, steps, c.m2, c.lam, c.h, d)}
    # compiled: fields chains-last, as run_ensemble keeps them; compiled-cf: chains-first (contiguous)
    for name, kernel, layout in (("eager", "eager", None), ("compiled-cf", "compiled", None), ("compiled", "compiled", to_chains_last)):
        hmc = HMC(act, HMCConfig(eps, steps, kernel=kernel))
        prep = layout or (lambda t: t)
        x, q = prep(phi0.clone()), prep(p0.clone())
        hmc.integrate(x, q, eps, steps)
        diff = float((x - xr).abs().max())
        assert diff < tol, f"{name} and plain trajectories differ by {diff}"

        x0, q0 = prep(phi0.clone()), prep(p0.clone())  # start fields in the same layout: a plain copy restores them

        def pkg(hmc=hmc, x=x, q=q, x0=x0, q0=q0):  # in place on preallocated fields, as in HMC.trajectory
            x.copy_(x0)
            q.copy_(q0)
            hmc.integrate(x, q, eps, steps)

        fns[name] = pkg
    out = timed_interleaved(fns, repeats, sync)
    work = chains * lat.volume * steps
    return {k: work / t for k, t in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=32)
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--chains", type=int, nargs="+", default=[1024, 8192])
    ap.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--eps", type=float, default=0.07)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    print(f"L={a.L} d={a.d} {dev} eps={a.eps} steps={a.steps} threads={torch.get_num_threads()}")
    print(f"{'chains':>7} {'dtype':>8} {'plain/s':>10} {'eager/s':>10} {'comp-cf/s':>10} {'compiled/s':>11} {'eager/plain':>12} {'comp-cf/plain':>14} {'compiled/plain':>15} {'copy GB/s':>10} {'bound/s':>10} {'compiled/bound':>15}")
    for name in a.dtype:
        dtype = getattr(torch, name)
        size = torch.tensor([], dtype=dtype).element_size()
        for chains in a.chains:
            r = run(a.L, a.d, chains, dtype, dev, a.eps, a.steps, a.repeats, sync)
            bw = copy_bandwidth(max(chains * a.L**a.d * size * 2, 1 << 26), dtype, dev, sync)
            bound = bw / (4 * size)
            print(f"{chains:>7} {name:>8} {r['plain']:>10.3e} {r['eager']:>10.3e} {r['compiled-cf']:>10.3e} {r['compiled']:>11.3e} {r['eager'] / r['plain']:>12.2f} "
                  f"{r['compiled-cf'] / r['plain']:>14.2f} {r['compiled'] / r['plain']:>15.2f} {bw / 1e9:>10.1f} {bound:>10.3e} {r['compiled'] / bound:>15.2f}")


if __name__ == "__main__":
    main()

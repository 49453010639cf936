"""Work per independent sample: τ_int of |M| and M² for HMC alone and HMC + Swendsen–Wang.

For each (L, λ) at m² = −4 it runs both samplers with the same number of trajectories (one
SW sweep after every trajectory for the combined one), measures τ_int in trajectories with the
Γ-method over all chains, the wall time per trajectory (measured in the same run), the tuned
step size ε of HMC (10 leapfrog steps: one trajectory is 10ε of molecular-dynamics time), and prints
τ_int × time, the cost of one independent sample, and the ratio HMC / (HMC + SW).

    python simulations/bench_cluster.py [--points 8:6.008,12:5.276,16:4.25] [--chains 32] [--traj 1000] [--kernel compiled]
"""

import argparse
import time

import numpy as np
import torch

from lattice_msi.lattice import Couplings, Lattice, Phi4Action
from lattice_msi.mcmc import HMC, HMCConfig, StepSizeTuner, swendsen_wang
from lattice_msi.mcmc.layout import to_chains_last
from lattice_msi.stats import gamma_method


def run(L, lam, chains, n_traj, cluster, seed=0, therm=200, kernel="compiled"):
    lat = Lattice(L, 2)
    c = Couplings(-4.0, lam)
    hmc = HMC(Phi4Action(lat, c), HMCConfig(0.1, 10, kernel=kernel))
    g = torch.Generator().manual_seed(seed)
    phi = 0.5 * torch.randn((chains,) + lat.shape, generator=g, dtype=torch.float64)
    layout = to_chains_last if kernel == "compiled" else (lambda t: t)  # as run_ensemble keeps them
    phi = layout(phi)
    tuner, eps = StepSizeTuner(0.1, 0.8), 0.1
    for _ in range(therm):
        r = hmc.trajectory(phi, g, eps)
        phi, eps = r.phi, tuner.update(r.accept_prob)
        if cluster:
            phi = layout(swendsen_wang(phi, 0.0, g))
    absM, M2 = [], []
    t0 = time.perf_counter()
    for _ in range(n_traj):
        phi = hmc.trajectory(phi, g, eps).phi
        if cluster:
            phi = layout(swendsen_wang(phi, 0.0, g))
        M = phi.mean((1, 2))
        absM.append(M.abs())
        M2.append(M * M)
    dt = (time.perf_counter() - t0) / n_traj
    ea = gamma_method(torch.stack(absM, 1).numpy())
    tm = gamma_method(torch.stack(M2, 1).numpy()).tau_int
    return ea.tau_int, tm, dt, ea.tau_int_error, eps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", default="8:6.008,12:5.276,16:4.25")
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--traj", type=int, default=1000)
    ap.add_argument("--therm", type=int, default=200, help="thermalisation trajectories (step size tuned meanwhile)")
    ap.add_argument("--kernel", default="compiled", choices=["eager", "compiled"], help="HMC kernel (compiled: fused, chains-last fields)")
    ap.add_argument("--only", choices=["hmc", "sw"], help="run one sampler (a longer HMC run for a slow point)")
    a = ap.parse_args()
    print(f"chains={a.chains} trajectories={a.traj} therm={a.therm} kernel={a.kernel} threads={torch.get_num_threads()} (τ in trajectories, time per trajectory for all chains)")
    print(f"{'L':>3} {'lam':>6} | {'HMC tau|M|':>10} {'tau M2':>7} {'ms':>6} {'eps':>7} | {'+SW tau|M|':>10} {'tau M2':>7} {'ms':>6} | cost ratio HMC/(HMC+SW) for |M|")
    for pt in a.points.split(","):
        L, lam = pt.split(":")
        L, lam = int(L), float(lam)
        nan = (float("nan"),) * 5
        h = run(L, lam, a.chains, a.traj, False, therm=a.therm, kernel=a.kernel) if a.only != "sw" else nan
        s = run(L, lam, a.chains, a.traj, True, therm=a.therm, kernel=a.kernel) if a.only != "hmc" else nan
        ratio = (h[0] * h[2]) / (s[0] * s[2])
        print(f"{L:>3} {lam:>6.3f} | {h[0]:>6.2f}({h[3]:.2f}) {h[1]:>7.2f} {1e3 * h[2]:>6.1f} {h[4]:>7.4f} | {s[0]:>6.2f}({s[3]:.2f}) {s[1]:>7.2f} {1e3 * s[2]:>6.1f} | {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()

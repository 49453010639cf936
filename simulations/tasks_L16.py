"""The demo's whole φ⁴ table at L = 16 (CPU scale benchmark of issue-level claims).

HMC ensembles at m² = −4, λ = 4.572 (h = 0, h = 0.02, m² + 0.25), one site-family model
trained on the h = 0 ensemble, then generation, posterior at h = 0.02, inpainting and the mass
shift, each compared with HMC, plus raw / reweighted / independence-Metropolis rows from
samples with exact log-density. Report and figures under --out-dir (default data/tasks_L16).

    python simulations/tasks_L16.py [--train-steps 3000] [--n-gen 2000] [--n-exact 64]
"""

import argparse
import os

from lattice_msi.demo import run_demo


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=16)
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--train-steps", type=int, default=3000)
    ap.add_argument("--n-gen", type=int, default=2000)
    ap.add_argument("--n-exact", type=int, default=64)
    ap.add_argument("--out-dir", default=os.path.join("data", "tasks_L16"))
    a = ap.parse_args()
    run_demo(a.out_dir, L=a.L, chains=a.chains, samples=a.samples, progress=False, train_steps=a.train_steps, n_gen=a.n_gen, n_exact=a.n_exact)


if __name__ == "__main__":
    main()

"""Raw vs corrected model estimates against HMC, with ESS/N, independence-Metropolis acceptance
and τ_int, and the thermalisation saved by model-seeded HMC.

An HMC ensemble at (L, m², λ) is made (resumable file), a drift model is trained on part of it,
n samples are generated with the log-density of the sampler's map ("exact" Jacobian or
"hutchinson"), and the raw, importance-weighted and independence-Metropolis estimates of
⟨|M|⟩, V⟨M²⟩, U₄, ⟨φ²⟩, ξ₂ are compared with the HMC ones (pulls). Then HMC chains are started
from model samples and from a hot start (compare_thermalisation). Prints a table and writes
OUT/exactness_L{L}.json.

    python simulations/exactness.py --L 8 [--n 2000] [--train-steps 1500] [--logdet exact]
    python simulations/exactness.py --L 16 --n 500 --width 8 --depth 1
"""

import argparse
import json
import os
import time

import numpy as np
import torch

from lattice_msi import tasks
from lattice_msi.correction import compare_thermalisation, ess_fraction, importance_log_weights, independence_metropolis
from lattice_msi.io import read_ensemble
from lattice_msi.lattice import Couplings, Lattice, Phi4Action
from lattice_msi.mcmc import EnsembleConfig, run_ensemble
from lattice_msi.mcmc.hmc import HMCConfig
from lattice_msi.models import load_model, NetConfig
from lattice_msi.observables import summarize
from lattice_msi.observables.features import config_features
from lattice_msi.observables.measure import measure
from lattice_msi.training import TrainConfig, train

KEYS = ("<|M|>", "V<M^2>", "U4", "<phi^2>", "xi2")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--m2", type=float, default=-4.0)
    ap.add_argument("--lam", type=float, default=4.572)
    ap.add_argument("--chains", type=int, default=64)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--family", default="scalar")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=8, help="Heun steps of the sampler")
    ap.add_argument("--logdet", choices=["exact", "hutchinson"], default="exact")
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--order", type=int, default=6)
    ap.add_argument("--seed-chains", type=int, default=32)
    ap.add_argument("--therm-traj", type=int, default=200)
    ap.add_argument("--out", default=os.path.join("data", "exactness"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lat = Lattice(args.L, 2)
    act = Phi4Action(lat, Couplings(args.m2, args.lam))
    report = {"args": vars(args)}

    t0 = time.time()
    cfg = EnsembleConfig(L=args.L, m2=args.m2, lam=args.lam, chains=args.chains, therm=300, samples=args.samples, every=args.every, seed=1)
    hmc_file = os.path.join(args.out, f"hmc_L{args.L}.h5")
    res = run_ensemble(cfg, hmc_file, progress=False)
    ens = read_ensemble(hmc_file)
    ref = summarize(ens.by_chain(), lat)
    report["hmc_seconds"] = time.time() - t0
    report["hmc_step_size"] = res.step_size

    t0 = time.time()
    model = os.path.join(args.out, f"model_L{args.L}_{args.family}_w{args.width}d{args.depth}_s{args.train_steps}.pt")
    ncfg = NetConfig(L=args.L, family=args.family, width=args.width, depth=args.depth)
    train(ncfg, TrainConfig(steps=args.train_steps, batch=128, lr=5e-3, ema=0.99, val_every=args.train_steps), ens.phi.float(), model,
          meta={"m2": args.m2, "lam": args.lam, "h": 0.0}, progress=False)
    net, _ = load_model(model)
    report["train_seconds"] = time.time() - t0

    t0 = time.time()
    g = torch.Generator().manual_seed(7)
    kw = {"probes": args.probes, "order": args.order} if args.logdet == "hutchinson" else {}
    r = tasks.generate(lat).run_with_density(net, args.n, g, steps=args.steps, logdet=args.logdet, dtype=torch.float32, **kw)
    report["density_seconds"] = time.time() - t0
    report["n_folded"] = r.n_folded
    if r.log_q_err is not None:
        report["log_q_err_median"] = float(r.log_q_err.median())
    x = r.x.double()
    lw = importance_log_weights(act.action(x).numpy(), r.log_q.numpy())
    f = config_features(x, lat)
    chain = independence_metropolis(lw, 0)
    est = {"raw": measure(f, args.L, 2), "reweighted": measure(f, args.L, 2, log_weights=lw),
           "imh": measure({k: v[chain.index] for k, v in f.items()}, args.L, 2)}
    report["ess_fraction"] = ess_fraction(lw)
    report["imh_acceptance"] = chain.acceptance
    report["imh_tau_int_absM"] = est["imh"]["<|M|>"].tau_int
    print(f"L = {args.L}, m2 = {args.m2}, lam = {args.lam}: model {args.family} w{args.width} d{args.depth}, {args.train_steps} steps; "
          f"{args.n} samples, {args.steps} Heun steps, log det {args.logdet} ({report['density_seconds']:.0f} s)")
    print(f"ESS/N = {report['ess_fraction']:.4f}   IMH acceptance = {chain.acceptance:.4f}   IMH tau_int(|M|) = {report['imh_tau_int_absM']:.2f}")
    print(f"{'observable':<10} {'HMC':>16} " + " ".join(f"{k:>24}" for k in est))
    table = {}
    for k in KEYS:
        row = {"hmc": [ref[k].value, ref[k].error]}
        cells = []
        for name, m in est.items():
            p = m[k].pull(ref[k].value, ref[k].error)
            row[name] = [m[k].value, m[k].error, p]
            cells.append(f"{m[k].value:>10.4f}({m[k].error:.4f}) {p:+5.1f}")
        table[k] = row
        print(f"{k:<10} {ref[k].value:>9.4f}({ref[k].error:.4f}) " + " ".join(f"{c:>24}" for c in cells))
    report["table"] = table

    # seeds: states of the independence-Metropolis chain spaced through it (nearly exact samples)
    pos = np.linspace(0, args.n - 1, args.seed_chains).astype(int)
    seeds = r.x[torch.as_tensor(chain.index[pos])].double()
    th = compare_thermalisation(seeds, act, HMCConfig(res.step_size, cfg.n_leapfrog), n_traj=args.therm_traj, seed=3)
    print(th.table())
    report["thermalisation"] = {"t_seeded": th.t_seeded, "t_scratch": th.t_scratch, "saved_per_chain": th.saved_per_chain}
    path = os.path.join(args.out, f"exactness_L{args.L}.json")
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

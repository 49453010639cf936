"""The `lattice-msi` command line: thin wrappers from arguments to library calls to files.

Every error the library raises on bad input becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import LatticeMSIError

EXIT_USAGE = 2


def _fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"lattice-msi: error: {msg}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _int_at_least(low: int, what: str):
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{s!r} must be a {what} integer")
        return v

    return parse


_positive_int = _int_at_least(1, "positive")
_nonneg_int = _int_at_least(0, "non-negative")


def _shard(s: str) -> tuple[int, int]:
    try:
        i, n = (int(t) for t in s.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not of the form INDEX/COUNT, e.g. 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"{s!r}: need 0 <= INDEX < COUNT")
    return i, n


def _resolve_device(name: str, local_rank: int = 0) -> str:
    import torch

    if name == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    return name


def _distributed_shard() -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) when started under torchrun, else None."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        try:
            return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
        except ValueError:
            _fail(f"RANK={os.environ['RANK']!r} / WORLD_SIZE={os.environ['WORLD_SIZE']!r} are not integers")
    return None


def add_theory_args(p: argparse.ArgumentParser, L=8, m2=-4.0, lam=4.572) -> None:
    p.add_argument("--L", type=int, default=L, help="lattice size per direction (default %(default)s)")
    p.add_argument("--d", type=int, default=2, help="dimension 1..4 (default %(default)s)")
    p.add_argument("--m2", type=float, default=m2, help="bare mass squared m² (default %(default)s)")
    p.add_argument("--lam", type=float, default=lam, help="quartic coupling λ (default %(default)s)")
    p.add_argument("--h", type=float, default=0.0, help="uniform external field h (default %(default)s)")


def add_hmc_args(p: argparse.ArgumentParser, chains=16, therm=200, samples=100, every=1) -> None:
    p.add_argument("--chains", type=_positive_int, default=chains, help="parallel chains (default %(default)s)")
    p.add_argument("--therm", type=_nonneg_int, default=therm, help="thermalisation trajectories (default %(default)s)")
    p.add_argument("--samples", type=_positive_int, default=samples, help="configurations saved per chain (default %(default)s)")
    p.add_argument("--every", type=_positive_int, default=every, help="trajectories between saves (default %(default)s)")
    p.add_argument("--step-size", type=float, default=0.1, help="initial leapfrog step ε (default %(default)s)")
    p.add_argument("--n-leapfrog", type=_positive_int, default=10, help="integrator steps per trajectory (default %(default)s)")
    p.add_argument("--integrator", choices=["leapfrog", "omelyan"], default="leapfrog")
    p.add_argument("--no-tune", action="store_true", help="keep --step-size fixed during thermalisation")
    p.add_argument("--target-accept", type=float, default=0.8, help="acceptance the tuner aims for (default %(default)s)")
    p.add_argument("--seed", type=_nonneg_int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--kernel", choices=["eager", "compiled"], default="eager", help="compiled: fused torch.compile trajectories (compiles once, then faster)")
    p.add_argument("--cluster-every", type=_nonneg_int, default=0, help="a Swendsen-Wang sweep after every N-th trajectory (0: off)")
    p.add_argument("--shard", type=_shard, default=None, help="INDEX/COUNT: run one shard of a multi-file ensemble")
    p.add_argument("--start-from", default="", help="ensemble file (e.g. model samples) whose configurations start the chains: model-seeded HMC")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def ensemble_config_from_args(args):
    from .mcmc import EnsembleConfig

    dist = _distributed_shard()
    if args.shard is not None:
        shard, n_shards = args.shard
        local = 0
    elif dist is not None:
        shard, n_shards, local = dist
    else:
        shard, n_shards, local = 0, 1, 0
    return EnsembleConfig(
        L=args.L,
        d=args.d,
        m2=args.m2,
        lam=args.lam,
        h=args.h,
        chains=args.chains,
        therm=args.therm,
        samples=args.samples,
        every=args.every,
        step_size=args.step_size,
        n_leapfrog=args.n_leapfrog,
        integrator=args.integrator,
        tune=not args.no_tune,
        target_accept=args.target_accept,
        seed=args.seed,
        dtype=args.dtype,
        device=_resolve_device(args.device, local),
        shard=shard,
        n_shards=n_shards,
        cluster_every=args.cluster_every,
        kernel=args.kernel,
        start_from=os.path.abspath(args.start_from) if args.start_from else "",
    )


def cmd_ensemble(args) -> int:
    from .mcmc import run_ensemble

    cfg = ensemble_config_from_args(args)
    res = run_ensemble(cfg, args.out, progress=not args.no_progress)
    if res.already_complete:
        print(f"{res.path}: already complete ({res.n_configs} configurations); nothing to do")
    else:
        what = f"resumed at {res.resumed_from}, " if res.resumed_from else ""
        print(f"{res.path}: {res.n_configs} configurations ({what}step size {res.step_size:.4g}, acceptance {res.acceptance:.3f})")
    return 0


def cmd_measure(args) -> int:
    from .observables import measure_files

    m, attrs = measure_files(args.files, args.reweight_m2, args.reweight_h, args.allow_incomplete, correct=args.correct)
    if args.json:
        d = m.to_dict()
        if args.correct:
            d["correction"] = attrs["correction"]
        print(json.dumps(d, indent=2))
    else:
        what = ""
        if args.reweight_m2 is not None or args.reweight_h is not None:
            what += f" reweighted to m2 = {args.reweight_m2}, h = {args.reweight_h}"
        if args.correct == "reweight":
            what += ", importance-weighted by e^-S/q"
        elif args.correct == "imh":
            what += f", independence Metropolis chain (acceptance {attrs['correction']['acceptance']:.3f})"
        print(f"{len(attrs['files'])} file(s): {m.n_configs} configurations, {m.n_chains} chains{what}")
        print(m.table())
    return 0


def cmd_compare(args) -> int:
    from .observables import compare, measure_files

    ref, _ = measure_files(args.ref, args.ref_reweight_m2, args.ref_reweight_h)
    other, _ = measure_files(args.other, correct=args.correct)
    c = compare(ref, other, threshold=args.threshold, p_min=args.p_min)
    print(c.table())
    if args.out:
        for p in c.write(args.out):
            print(f"wrote {p}")
    return 0 if c.agree else 1


def cmd_train(args) -> int:
    import torch

    from .io import open_ensembles
    from .interpolants.multiscale import restrict
    from .lattice import Lattice
    from .models import NetConfig
    from .training import TrainConfig, train

    ds, attrs = open_ensembles(args.files)
    L, d = int(attrs["L"]), int(attrs["d"])
    phi = torch.from_numpy(ds["phi"].values).float()
    ds.close()
    if args.restrict:  # the coarse level of a multiscale pair: the fine data restricted to L/2
        phi = restrict(phi.double(), Lattice(L, d)).float()
        L //= 2
    net_cfg = NetConfig(L=L, d=d, family=args.family, width=args.width, depth=args.depth, spectral=args.spectral, z2=args.z2, size_agnostic=args.size_agnostic)
    cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, ema=args.ema, val_every=args.val_every, checkpoint_every=args.checkpoint_every, compile=args.compile)
    meta = {k: attrs[k] for k in ("m2", "lam", "h") if k in attrs}
    meta.update(L_data=int(attrs["L"]), restricted=bool(args.restrict), files=",".join(attrs["files"]))
    res = train(net_cfg, cfg, phi, args.out, meta=meta, device=_resolve_device(args.device), progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        val = ", ".join(f"{k} {v:.4f}" for k, v in res.val.items())
        print(f"{args.out}: step {res.step}, train loss {res.history[-1][1]:.4f}, validation {val}, rank divergence {res.rank_divergence:.1e}")
    return 0


CORRECTIONS = ("reweight", "imh")  # = observables.ensemble.CORRECTIONS (kept import-free here)
TASKS = ("generate", "coarse-to-fine", "inpaint", "superres", "posterior", "mass-shift")


def inpaint_mask(spec: str, lattice):
    """half | checkerboard | block:K (a K^d block of observed sites at the origin)."""
    import torch

    idx = torch.meshgrid(*[torch.arange(lattice.L)] * lattice.d, indexing="ij")
    if spec == "half":
        return idx[0] < lattice.L // 2
    if spec == "checkerboard":
        return (sum(idx) % 2) == 0
    if spec.startswith("block:"):
        try:
            k = int(spec.split(":")[1])
        except ValueError:
            k = -1
        if not 1 <= k <= lattice.L:
            raise LatticeMSIError(f"--mask {spec!r}: K must be an integer in 1..{lattice.L}")
        m = torch.ones(lattice.shape, dtype=torch.bool)
        for i in idx:
            m = m & (i < k)
        return m
    raise LatticeMSIError(f"--mask {spec!r} is not one of half, checkerboard, block:K")


def cmd_sample(args) -> int:
    import torch

    from . import tasks
    from .io import read_ensemble
    from .lattice import Couplings, Lattice, Phi4Action
    from .models import load_model
    from .tasks.to_file import sample_to_file

    device = _resolve_device(args.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LatticeMSIError(f"--device {args.device}: CUDA is not available here")
    net, meta = load_model(args.model, device=device)
    lattice = Lattice(net.cfg.L, net.cfg.d)
    theory = {k: float(meta[k]) for k in ("m2", "lam", "h") if k in meta}
    params = {}
    if args.task == "generate":
        task = tasks.generate(lattice)
    elif args.task == "coarse-to-fine":
        task = tasks.coarse_to_fine(lattice)
    elif args.task == "posterior":
        if args.h is None:
            raise LatticeMSIError("--task posterior needs --h")
        task = tasks.posterior(lattice, args.h, b_min=args.b_min)
        theory["h"] = theory.get("h", 0.0) + args.h
    elif args.task == "mass-shift":
        if args.c is None:
            raise LatticeMSIError("--task mass-shift needs --c")
        if args.c < 0:
            raise LatticeMSIError(f"--c {args.c} < 0 (a lighter mass) is refused: the tilt q = {-2 * args.c:g} > 0 is not valid near pure noise")
        task = tasks.mass_shift(lattice, args.c, b_min=args.b_min)
        theory["m2"] = theory.get("m2", 0.0) + args.c
    elif args.task == "inpaint":
        if args.observed_from is None:
            raise LatticeMSIError("--task inpaint needs --observed-from FILE (a configuration is taken from it)")
        ens = read_ensemble(args.observed_from)
        if not 0 <= args.observed_index < ens.phi.shape[0]:
            raise LatticeMSIError(f"--observed-index {args.observed_index} is outside 0..{ens.phi.shape[0] - 1}")
        obs = ens.phi[args.observed_index].double()
        mask = inpaint_mask(args.mask, lattice)
        task = tasks.inpaint(lattice, mask, obs)
        params = {"mask": args.mask, "observed_from": args.observed_from, "observed_index": args.observed_index}
    else:  # superres
        if args.coarse_from is None:
            raise LatticeMSIError("--task superres needs --coarse-from FILE (configurations on L/2)")
        ens = read_ensemble(args.coarse_from)
        if int(ens.attrs["L"]) * 2 != lattice.L:
            raise LatticeMSIError(f"--coarse-from has L = {ens.attrs['L']}, the model needs L/2 = {lattice.L // 2}")
        cf = ens.phi[: args.n].double()
        if cf.shape[0] < args.n:
            raise LatticeMSIError(f"--coarse-from holds {cf.shape[0]} configurations, fewer than --n {args.n}")
        task = tasks.superres(lattice, cf)
        args.batch = args.n  # one coarse field per sample: a single batch
        params = {"coarse_from": args.coarse_from}
    run_config = {"model": os.path.abspath(args.model), "task": args.task, "n": args.n, "steps": args.steps, "method": args.method,
                  "h": args.h, "c": args.c, "seed": args.seed, "b_min": args.b_min, **params}
    density_kw = {"max_batch": args.max_batch}
    if args.density is not None:
        run_config["density"] = args.density
        if args.method not in ("euler", "heun"):
            raise LatticeMSIError(f"--density needs a deterministic map: --method {args.method} is not euler or heun")
        if args.density == "hutchinson":
            density_kw.update(probes=args.probes, order=args.order)
            run_config.update(probes=args.probes, order=args.order)
    c = Couplings(theory["m2"], theory["lam"], theory.get("h", 0.0)) if {"m2", "lam"} <= set(theory) else None
    action = Phi4Action(lattice, c) if c is not None else None
    theory.update(L=lattice.L, d=lattice.d)
    n = sample_to_file(task, net, args.n, args.out, lattice, theory, run_config, args.seed, batch=args.batch, steps=args.steps,
                       method=args.method, progress=not args.no_progress, dtype=torch.float32, action=action,
                       density=args.density, density_kw=density_kw if args.density else None, device=device)
    print(f"{args.out}: {n} configurations of task {args.task}")
    if args.density is not None:
        from .io import read_attrs

        a = read_attrs(args.out)
        print(f"ESS/N = {a['ess_fraction']:.4f}; independence Metropolis: acceptance {a['imh_acceptance']:.4f}, "
              f"tau_int |M| {a['imh_tau_int_absM']:.2f}, M^2 {a['imh_tau_int_M2']:.2f}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out_dir, L=args.L, chains=args.chains, samples=args.samples, progress=not args.no_progress,
             m2=args.m2, lam=args.lam, h=args.h, train_steps=args.train_steps, n_gen=args.n_gen, n_exact=args.n_exact,
             device=_resolve_device(args.device))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`--help` still shows the full usage)."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lattice-msi", description="Lattice φ⁴ ensembles and multitask generative models")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    e = sub.add_parser("ensemble", help="make an HMC reference ensemble file", description="Run batched HMC chains into an HDF5 ensemble file; rerun the same command to resume a killed run.")
    add_theory_args(e)
    add_hmc_args(e)
    e.add_argument("--out", required=True, help="output .h5 file (shards get .shardI-of-N before the suffix)")
    e.set_defaults(func=cmd_ensemble)

    m = sub.add_parser("measure", help="observables with Γ-method errors for an ensemble (files or globs)")
    m.add_argument("files", nargs="+", help="ensemble files or quoted glob patterns (shards are combined)")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument("--allow-incomplete", action="store_true", help="measure files whose run has not finished")
    m.add_argument("--reweight-m2", type=float, default=None, help="reweight to this m² (reports ESS)")
    m.add_argument("--reweight-h", type=float, default=None, help="reweight to this field h (reports ESS)")
    m.add_argument("--correct", choices=CORRECTIONS, default=None,
                   help="model samples with log q (sample --density): importance weights e^-S/q, or the independence Metropolis chain")
    m.set_defaults(func=cmd_measure)

    c = sub.add_parser("compare", help="compare two ensembles; exit 0 when they agree, 1 when not")
    c.add_argument("ref", help="reference ensemble: file or quoted glob")
    c.add_argument("other", help="ensemble to test: file or quoted glob")
    c.add_argument("--threshold", type=float, default=3.0, help="largest |pull| counted as agreement (default %(default)s)")
    c.add_argument("--p-min", type=float, default=1e-3, help="smallest χ²/W1/KS p-value counted as agreement (default %(default)s)")
    c.add_argument("--ref-reweight-m2", type=float, default=None, help="reweight the reference to this m²")
    c.add_argument("--ref-reweight-h", type=float, default=None, help="reweight the reference to this h")
    c.add_argument("--correct", choices=CORRECTIONS, default=None, help="correct the second ensemble (model samples with log q)")
    c.add_argument("--out", default=None, help="write OUT.nc (xarray Dataset) and OUT.json")
    c.set_defaults(func=cmd_compare)

    t = sub.add_parser("train", help="train a drift network on ensemble files (resumes from --out)")
    t.add_argument("files", nargs="+", help="ensemble files or quoted globs")
    t.add_argument("--out", required=True, help="checkpoint file; an existing one is resumed")
    t.add_argument("--family", choices=["scalar", "site", "fourier"], default="site")
    t.add_argument("--width", type=_positive_int, default=32)
    t.add_argument("--depth", type=_positive_int, default=4)
    t.add_argument("--spectral", action="store_true", help="add a per-mode spectral layer to every block")
    t.add_argument("--z2", action="store_true", help="make the network odd under phi -> -phi")
    t.add_argument("--size-agnostic", action="store_true", help="declare the model usable at other L")
    t.add_argument("--restrict", action="store_true", help="train on the data restricted to L/2 (coarse level)")
    t.add_argument("--steps", type=_positive_int, default=2000)
    t.add_argument("--batch", type=_positive_int, default=64)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--ema", type=float, default=0.995)
    t.add_argument("--seed", type=_nonneg_int, default=0)
    t.add_argument("--val-every", type=_positive_int, default=100)
    t.add_argument("--checkpoint-every", type=_positive_int, default=100)
    t.add_argument("--compile", action="store_true", help="torch.compile the network")
    t.add_argument("--device", default="auto")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)

    sp = sub.add_parser("sample", help="sample a task with a trained model into an ensemble file (resumable)")
    sp.add_argument("--model", required=True, help="checkpoint written by `train`")
    sp.add_argument("--task", choices=TASKS, required=True)
    sp.add_argument("--n", type=_positive_int, default=1000, help="configurations (default %(default)s)")
    sp.add_argument("--batch", type=_positive_int, default=256)
    sp.add_argument("--steps", type=_positive_int, default=64, help="integrator steps per path interval")
    sp.add_argument("--method", choices=["euler", "heun", "em", "sde-heun"], default="heun")
    sp.add_argument("--h", type=float, default=None, help="posterior: external field added to the trained theory's")
    sp.add_argument("--c", type=float, default=None, help="mass-shift: m2 -> m2 + c (c > 0; c < 0 is refused)")
    sp.add_argument("--b-min", type=float, default=0.05, help="tilts: smallest beta where the tilted drift is used")
    sp.add_argument("--observed-from", default=None, help="inpaint: ensemble file holding the observed configuration")
    sp.add_argument("--observed-index", type=_nonneg_int, default=0)
    sp.add_argument("--mask", default="half", help="inpaint: half | checkerboard | block:K")
    sp.add_argument("--coarse-from", default=None, help="superres: ensemble file of L/2 configurations")
    sp.add_argument("--density", choices=["exact", "hutchinson"], default=None,
                    help="record log q of each sample under the sampler's map (euler/heun), with ESS/N and "
                         "independence-Metropolis numbers in the attributes")
    sp.add_argument("--probes", type=_positive_int, default=4, help="hutchinson: probe vectors per sample and step")
    sp.add_argument("--order", type=_positive_int, default=6, help="hutchinson: terms of the log-det series")
    sp.add_argument("--max-batch", type=_positive_int, default=4096, help="density: configurations in flight per JVP batch (memory bound)")
    sp.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (ODE methods; the SDE noise comes from a CPU generator)")
    sp.add_argument("--seed", type=_nonneg_int, default=0)
    sp.add_argument("--out", required=True)
    sp.add_argument("--no-progress", action="store_true")
    sp.set_defaults(func=cmd_sample)

    d = sub.add_parser("demo", help="the main job on a small default lattice, report under data/demo/")
    d.add_argument("--out-dir", default=os.path.join("data", "demo"))
    d.add_argument("--L", type=int, default=8)
    d.add_argument("--chains", type=_positive_int, default=32)
    d.add_argument("--samples", type=_positive_int, default=500)
    d.add_argument("--m2", type=float, default=-4.0)
    d.add_argument("--lam", type=float, default=4.572)
    d.add_argument("--h", type=float, default=0.02, help="field of the posterior task (default %(default)s)")
    d.add_argument("--train-steps", type=_positive_int, default=1500)
    d.add_argument("--n-gen", type=_positive_int, default=2000, help="generated configurations per task")
    d.add_argument("--n-exact", type=_nonneg_int, default=256, help="samples with exact log-density for the corrected rows (0: none)")
    d.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: a GPU when there is one)")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LatticeMSIError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        print("lattice-msi: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

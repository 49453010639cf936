"""Run a task batch by batch into an ensemble file of the MCMC format, resumably.

The file's attributes give the theory the samples target (a posterior at field h has h = h₀ + h,
a mass shift has m² = m²₀ + c), the task and its parameters, and the model, so that `measure`
and `compare` treat generated and MCMC ensembles alike. Samples are i.i.d.: chain 0, mc_time =
index. After each batch the file is flushed and the generator state saved atomically; a rerun
of the same command continues from the last complete batch.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..errors import LatticeMSIError
from ..io import EnsembleWriter, save_state
from ..io.ensemble_file import resume_output

CALIBRATION_SAMPLES = 256  # samples that fix a tilt's switch shift before the weighted ones


def _weight_attrs(writer, seed: int) -> dict:
    """ESS/N and the independence-Metropolis numbers of the whole file, for its attributes."""
    from ..correction.weights import weight_summary

    n = writer.n_configs
    M = np.concatenate([writer.read("phi", i, min(i + 4096, n)).astype(np.float64).reshape(min(4096, n - i), -1).mean(1) for i in range(0, n, 4096)])
    return weight_summary(writer.read("action"), writer.read("log_q"), M, seed)


def sample_to_file(task, drift, n: int, out: str, lattice, theory: dict, run_config: dict, seed: int,
                   batch: int = 256, steps: int = 64, method: str = "heun", eps=None, progress: bool = True,
                   dtype=torch.float32, action=None, density: str | None = None, density_kw: dict | None = None, device=None) -> int:
    """Write n samples of `task` with `drift` to `out`; returns the number of configurations.

    density: None, or "exact"/"hutchinson": record log q of each configuration under the map
    that produced it (variables log_q and, for hutchinson, log_q_err) and, once complete, the
    attributes ess_fraction, imh_acceptance and imh_tau_int_absM / _M2 for the target e^{−S}
    (S = `action`, required). A tilt's switch shift is calibrated once on samples of its own
    (a separate generator) so that every batch goes through one map.
    """
    if density is not None and action is None:
        raise LatticeMSIError("the importance weights need the target action: the model's file records no m2/lam")
    density_kw = dict(density_kw or {})
    spath = out + ".resume"
    ident = dict(run_config)
    g = torch.Generator().manual_seed(seed)
    res = resume_output(out, ident, spath)
    if res.complete:
        return res.n_configs
    writer = res.writer
    if res.state is not None:
        g.set_state(res.state["rng"])
    shift = None if res.state is None else res.state.get("shift")
    if density is not None and shift is None:
        g_cal = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]))
        shift = task.calibrate_shift(drift, CALIBRATION_SAMPLES, g_cal, steps=steps, method=method, dtype=dtype, device=device)
    extra = () if density is None else (("log_q",) if density == "exact" else ("log_q", "log_q_err"))

    def run_batch(k):
        if density is None:
            with torch.no_grad():
                return task.run(drift, k, g, steps=steps, method=method, eps=eps, dtype=dtype, device=device).x, {}
        r = task.run_with_density(drift, k, g, steps=steps, method=method, logdet=density, shift=shift, dtype=dtype, device=device, **density_kw)
        if r.n_folded:
            raise LatticeMSIError(f"{r.n_folded} step Jacobians with det <= 0: the map folds, its density is not valid (use more --steps)")
        rec = {"log_q": r.log_q}
        if r.log_q_err is not None:
            rec["log_q_err"] = r.log_q_err
        return r.x, rec

    first = None
    if writer is None:
        first = run_batch(min(batch, n))  # the first batch before the file exists: a refused task leaves no file
        attrs = dict(theory)
        attrs.update(algorithm="model", source=f"model:{run_config.get('model', '?')}:{task.name}", task=task.name, seed=seed,
                     **{f"task_{k}": v for k, v in task.params.items()})
        if density is not None:
            attrs.update(density=density, **{f"density_{k}": v for k, v in density_kw.items()})
        writer = EnsembleWriter.create(out, lattice.L, lattice.d, 1, attrs, ident, np.float32 if dtype == torch.float32 else np.float64, extra)
    from tqdm import tqdm

    done = writer.n_configs
    bar = tqdm(total=n, initial=done, disable=not progress, desc=os.path.basename(out), unit="cfg")
    while done < n:
        k = min(batch, n - done)
        if first is not None:
            (x, rec), first = first, None
        else:
            x, rec = run_batch(k)
        if not torch.isfinite(x).all():
            writer.close()
            raise LatticeMSIError(f"the sampler produced non-finite fields after {done} configurations; nothing more is written")
        act = action(x.double()) if action is not None else torch.zeros(k, dtype=torch.float64)
        writer.append_configs(x, torch.zeros(k, dtype=torch.int32), torch.arange(done, done + k), act, torch.ones(k), **rec)
        writer.flush()
        done += k
        save_state(spath, {"identity": ident, "rng": g.get_state(), "n_configs": done, "n_trajectories": 0,
                           "shift": None if shift is None else shift.cpu()})
        bar.update(k)
    bar.close()
    if density is not None:
        writer.set_attrs(**_weight_attrs(writer, seed))
    writer.finalize()
    writer.close()
    os.remove(spath)
    return done

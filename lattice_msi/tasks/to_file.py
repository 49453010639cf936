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


def sample_to_file(task, drift, n: int, out: str, lattice, theory: dict, run_config: dict, seed: int,
                   batch: int = 256, steps: int = 64, method: str = "heun", eps=None, progress: bool = True,
                   dtype=torch.float32, action=None) -> int:
    """Write n samples of `task` with `drift` to `out`; returns the number of configurations."""
    spath = out + ".resume"
    ident = dict(run_config)
    g = torch.Generator().manual_seed(seed)
    res = resume_output(out, ident, spath)
    if res.complete:
        return res.n_configs
    writer = res.writer
    if res.state is not None:
        g.set_state(res.state["rng"])
    first = None
    if writer is None:
        with torch.no_grad():  # the first batch before the file exists: a refused task leaves no file
            first = task.run(drift, min(batch, n), g, steps=steps, method=method, eps=eps, dtype=dtype).x
        attrs = dict(theory)
        attrs.update(algorithm="model", source=f"model:{run_config.get('model', '?')}:{task.name}", task=task.name, seed=seed,
                     **{f"task_{k}": v for k, v in task.params.items()})
        writer = EnsembleWriter.create(out, lattice.L, lattice.d, 1, attrs, ident, np.float32 if dtype == torch.float32 else np.float64)
    from tqdm import tqdm

    done = writer.n_configs
    bar = tqdm(total=n, initial=done, disable=not progress, desc=os.path.basename(out), unit="cfg")
    while done < n:
        k = min(batch, n - done)
        if first is not None:
            x, first = first, None
        else:
            with torch.no_grad():
                x = task.run(drift, k, g, steps=steps, method=method, eps=eps, dtype=dtype).x
        if not torch.isfinite(x).all():
            writer.close()
            raise LatticeMSIError(f"the sampler produced non-finite fields after {done} configurations; nothing more is written")
        act = action(x.double()) if action is not None else torch.zeros(k, dtype=torch.float64)
        writer.append_configs(x, torch.zeros(k, dtype=torch.int32), torch.arange(done, done + k), act, torch.ones(k))
        writer.flush()
        done += k
        save_state(spath, {"identity": ident, "rng": g.get_state(), "n_configs": done, "n_trajectories": 0})
        bar.update(k)
    bar.close()
    writer.finalize()
    writer.close()
    os.remove(spath)
    return done

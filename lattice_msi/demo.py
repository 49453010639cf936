"""The main job on an embedded default: HMC ensembles, their checks and a report under data/demo/.

Stages (each resumable, since every ensemble file resumes):
1. a free-field ensemble (λ = 0, m² = 0.5), checked mode by mode against the exact G̃(k);
2. an interacting ensemble at m² = −4, λ = 4.572 near the Ising-class transition,
   summarised with Γ-method errors and compared with independent reference values at L = 8.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from .io import read_attrs, read_ensemble
from .lattice import Couplings, Lattice, free, khat2
from .mcmc import EnsembleConfig, run_ensemble
from .mcmc.reference import REFERENCE_L8
from .observables import momentum_two_point, summarize
from .plotting import plot_configs, plot_magnetization_histograms, plot_propagator
from .stats import format_value_error, gamma_method



def propagator_table(phi_chains: torch.Tensor, lattice: Lattice):
    """Per-mode Γ-method estimates of G̃(k) from (chains, samples, L, ...) configurations."""
    R, N = phi_chains.shape[:2]
    gk = momentum_two_point(phi_chains.reshape((R * N,) + lattice.shape).double(), lattice)
    gk = gk.reshape(R, N, -1).numpy()
    ests = [gamma_method(gk[:, :, j]) for j in range(gk.shape[-1])]
    return np.array([e.value for e in ests]), np.array([e.error for e in ests])


def oracle_tasks_section(lat: Lattice, couplings, n: int = 2000, seed: int = 3) -> list[str]:
    """Generation, coarse-to-fine, inpainting and an external field with the Gaussian oracle drift."""
    from . import tasks
    from .interpolants import FreeFieldOracle
    from .observables import magnetization

    oracle = FreeFieldOracle.from_couplings(lat, couplings)
    exact = free.propagator(lat, couplings).reshape(-1).numpy()
    g = torch.Generator().manual_seed(seed)
    rows = []

    def gk_pulls(x, mean=0.0):
        gk = momentum_two_point(x - mean, lat).reshape(x.shape[0], -1).numpy()
        return np.array([gamma_method(gk[None, :, j], S=0).pull(exact[j]) for j in range(gk.shape[1])])

    for name, task, steps in [("generate", tasks.generate(lat), 128), ("coarse-to-fine", tasks.coarse_to_fine(lat), 16)]:
        p = gk_pulls(task.run(oracle, n, g, steps=steps).x)
        rows.append(f"| {name} | G̃(k), {len(p)} modes | max \\|pull\\| {np.abs(p).max():.2f}, χ²/dof {np.mean(p ** 2):.2f} |")
    h = 0.2
    x = tasks.posterior(lat, h).run(oracle, n, g, steps=128).x
    M = gamma_method(magnetization(x)[None].numpy(), S=0)
    mu = h / (2 * couplings.m2)
    rows.append(f"| posterior, h = {h} | ⟨M⟩ = {M} | exact {mu:.4f}, pull {M.pull(mu):+.2f} |")
    mask = torch.zeros(lat.shape, dtype=torch.bool)
    mask[: lat.L // 2] = True
    obs = oracle.sample(1, g)[0]
    x = tasks.inpaint(lat, mask, obs).run(oracle, n, g, steps=128).x
    same = bool(torch.equal(x[:, mask], obs[mask].expand(n, -1)))
    rows.append(f"| inpaint half the lattice | observed sites unchanged | {same} |")
    return [
        f"## Zero-shot tasks with the exact free-field drift (Gaussian oracle, {n} samples)",
        "",
        "| task | check | result |",
        "|---|---|---|",
        *rows,
        "",
    ]


def _hmc_frozen(L, m2, lam, mask, observed, chains, therm, samples, every, seed):
    """Reference for inpainting: HMC with the observed sites held fixed, (chains, samples, L, L)."""
    from .lattice import Phi4Action
    from .mcmc import HMC, HMCConfig, StepSizeTuner

    lat = Lattice(L, 2)
    hmc = HMC(Phi4Action(lat, Couplings(m2, lam)), HMCConfig(0.1, 10), frozen=mask)
    g = torch.Generator().manual_seed(seed)
    phi = torch.where(mask, observed, 0.5 * torch.randn((chains,) + lat.shape, generator=g, dtype=torch.float64))
    tuner, eps = StepSizeTuner(0.1, 0.8), 0.1
    for _ in range(therm):
        r = hmc.trajectory(phi, g, eps)
        phi, eps = r.phi, tuner.update(r.accept_prob)
    out = torch.empty((chains, samples) + lat.shape, dtype=torch.float64)
    for i in range(samples * every):
        phi = hmc.trajectory(phi, g, eps).phi
        if (i + 1) % every == 0:
            out[:, i // every] = phi
    return out


MASS_SHIFT = 0.25  # the demo's mass-shift task: m² → m² + c (a heavier mass, valid on the whole path)


EXACT_STEPS = 8  # Heun steps of the samples whose density is computed (exactness does not depend on it)


def model_section(out_dir, L, m2, lam, h, chains, samples, train_steps, n_gen, progress, n_exact=256, device="cpu") -> tuple[list[str], dict]:
    """Train a model on the HMC ensemble; generate, sample the posterior at h and inpaint; compare with HMC."""
    from . import tasks
    from .io import read_ensemble
    from .lattice import Phi4Action
    from .models import NetConfig, load_model
    from .observables import compare, measure_files
    from .tasks.to_file import sample_to_file
    from .training import TrainConfig, train

    lat = Lattice(L, 2)
    base = dict(L=L, m2=m2, lam=lam, chains=chains, therm=300, samples=samples, every=2, device=device)
    ref_path = os.path.join(out_dir, f"phi4_L{L}.h5")
    post_path = os.path.join(out_dir, f"phi4_L{L}_h{h:g}.h5")
    run_ensemble(EnsembleConfig(**base, seed=2), ref_path, progress=progress)
    run_ensemble(EnsembleConfig(**base, h=h, seed=4), post_path, progress=progress)
    c = MASS_SHIFT
    shift_path = os.path.join(out_dir, f"phi4_L{L}_m2{m2 + c:g}.h5")
    run_ensemble(EnsembleConfig(**{**base, "m2": m2 + c}, seed=5), shift_path, progress=progress)
    ens = read_ensemble(ref_path)
    ckpt = os.path.join(out_dir, f"model_L{L}.pt")
    ncfg = NetConfig(L=L, family="site", width=16, depth=3)
    train(ncfg, TrainConfig(steps=train_steps, batch=64, lr=2e-3, val_every=max(1, train_steps // 5)), ens.phi.float(), ckpt,
          meta={"m2": m2, "lam": lam, "h": 0.0}, device=device, progress=progress)
    net, _ = load_model(ckpt, device=device)
    mask = torch.zeros(lat.shape, dtype=torch.bool)
    mask[: L // 2] = True
    observed = ens.by_chain()[0, -1].double()
    runs = {
        "generate": (tasks.generate(lat), {"m2": m2, "lam": lam, "h": 0.0}, n_gen),
        "posterior": (tasks.posterior(lat, h), {"m2": m2, "lam": lam, "h": h}, n_gen),
        "inpaint": (tasks.inpaint(lat, mask, observed), {"m2": m2, "lam": lam, "h": 0.0}, n_gen // 2),
        "mass-shift": (tasks.mass_shift(lat, c), {"m2": m2 + c, "lam": lam, "h": 0.0}, n_gen // 2),
    }
    files = {}
    for name, (task, theory, n) in runs.items():
        files[name] = os.path.join(out_dir, f"model_L{L}_{name}.h5")
        th = dict(theory, L=L, d=2)
        sample_to_file(task, net, n, files[name], lat, th, {"model": ckpt, "task": name, "n": n, "seed": 7}, seed=7,
                       batch=500, steps=32, progress=progress, device=device, action=Phi4Action(lat, Couplings(theory["m2"], theory["lam"], theory["h"])))
    exact_files = {}
    if n_exact:
        for name in ("generate", "posterior"):
            task, theory, _ = runs[name]
            exact_files[name] = os.path.join(out_dir, f"model_L{L}_{name}_density.h5")
            sample_to_file(task, net, n_exact, exact_files[name], lat, dict(theory, L=L, d=2),
                           {"model": ckpt, "task": name, "n": n_exact, "seed": 11, "density": "exact", "steps": EXACT_STEPS}, seed=11,
                           batch=64, steps=EXACT_STEPS, progress=progress, density="exact", device=device,
                           action=Phi4Action(lat, Couplings(theory["m2"], theory["lam"], theory["h"])))
    m_ref, _ = measure_files(ref_path)
    m_post, _ = measure_files(post_path)
    m_rw, _ = measure_files(ref_path, to_h=h)
    from .observables import summarize

    inp_ref = summarize(_hmc_frozen(L, m2, lam, mask, observed, chains, 200, samples // 2, 2, 9), lat)
    pairs = {
        "generated vs HMC": (m_ref, measure_files(files["generate"])[0]),
        f"posterior h = {h:g} vs HMC at h": (m_post, measure_files(files["posterior"])[0]),
        f"HMC reweighted to h = {h:g} vs HMC at h": (m_post, m_rw),
        "inpainting vs HMC with the same sites fixed": (inp_ref, measure_files(files["inpaint"])[0]),
        f"mass shift m² → m² + {c:g} vs HMC at m² + {c:g}": (measure_files(shift_path)[0], measure_files(files["mass-shift"])[0]),
    }
    weight_notes = []
    for name, ref_m, label in (("generate", m_ref, "generated"), ("posterior", m_post, f"posterior h = {h:g}")):
        if name not in exact_files:
            continue
        a = read_attrs(exact_files[name])
        for how, text in (("raw", f"{EXACT_STEPS} Heun steps, raw"), ("reweight", "reweighted e^-S/q"), ("imh", "independence Metropolis")):
            m = measure_files(exact_files[name], correct=None if how == "raw" else how)[0]
            pairs[f"{label}, {n_exact} samples, {text}, vs HMC"] = (ref_m, m)
        weight_notes.append(f"{label}: ESS/N = {a['ess_fraction']:.3f}, independence-Metropolis acceptance {a['imh_acceptance']:.3f}, "
                            f"τ_int(|M|) of its chain {a['imh_tau_int_absM']:.2f}")
    keys = ["<|M|>", "V<M^2>", "U4", "<phi^2>", "xi2"]
    lines = [f"## One model, several tasks: φ⁴ at L = {L}, m² = {m2}, λ = {lam} (site-family model, {train_steps} training steps)", "",
             "Pulls (other − HMC)/σ for each observable, W1 distance of the M distributions with the level from sampling noise alone.", "",
             "| comparison | " + " | ".join(k.replace("|", "\\|") for k in keys) + " | W1 (noise 95 %) | verdict |", "|---" * (len(keys) + 3) + "|"]
    summary = {}
    for name, (r, o) in pairs.items():
        c = compare(r, o)
        summary[name] = c.to_dict()
        pulls = [f"{o[k]} ({c.pulls[c.names.index(k)]:+.1f})" for k in keys]
        lines.append(f"| {name} | " + " | ".join(pulls) + f" | {c.w1:.3f} ({c.w1_noise95:.3f}) | {'agree' if c.agree else 'disagree'} |")
    if m_rw.ess is not None:
        lines += ["", f"Reweighting the h = 0 ensemble to h = {h:g}: ESS/N = {m_rw.ess / m_rw.n_configs:.3f}."]
    if weight_notes:
        lines += ["", "Exactness: the log-density of each sample under the very map that made it (exact Jacobian) gives weights "
                  "e^-S/q; the reweighted and independence-Metropolis rows are unbiased whatever the model's quality, "
                  "their errors include the weights.", ""] + [f"- {t}" for t in weight_notes]
    # Fig. 5 layout and configurations
    from .io import open_ensembles

    def mags(path):
        ds, _ = open_ensembles(path)
        return ds["phi"].mean(("x", "y")).values

    plot_magnetization_histograms({"data": mags(ref_path), "generated": mags(files["generate"]), "posterior data": mags(post_path),
                                   "posterior generated": mags(files["posterior"])}, os.path.join(out_dir, "fig5_magnetization.png"), title=f"L = {L}, h = {h:g}")
    gen_cfgs = read_ensemble(files["generate"]).phi[:4].numpy()
    plot_configs({"HMC": ens.phi[-4:].numpy(), "generated": gen_cfgs}, os.path.join(out_dir, "configs.png"))
    lines += ["", "![Fig. 5 layout](fig5_magnetization.png)", "", "![configurations](configs.png)", ""]
    return lines, summary


def run_demo(out_dir: str, L: int = 8, chains: int = 32, samples: int = 500, progress: bool = True,
             m2: float = -4.0, lam: float = 4.572, h: float = 0.02, train_steps: int = 1500, n_gen: int = 2000, n_exact: int = 256,
             device: str = "cpu") -> str:
    os.makedirs(out_dir, exist_ok=True)
    lines = ["# lattice_msi demo report", ""]

    # 1. free field against exact results
    lat = Lattice(L, 2)
    fcfg = EnsembleConfig(L=L, m2=0.5, lam=0.0, chains=chains, therm=100, samples=samples, every=2, dtype="float64", seed=1, device=device)
    fpath = os.path.join(out_dir, "free_L%d.h5" % L)
    run_ensemble(fcfg, fpath, progress=progress)
    fens = read_ensemble(fpath)
    fc = fens.by_chain()
    val, err = propagator_table(fc, lat)
    exact = free.propagator(lat, fcfg.couplings).reshape(-1).numpy()
    pulls = (val - exact) / err
    kh = khat2(lat).reshape(-1).numpy()
    plot_propagator(kh, val, err, exact, os.path.join(out_dir, "free_propagator.png"))
    fsum = summarize(fc, lat)
    p2_exact = free.phi2(lat, fcfg.couplings)
    lines += [
        f"## Free field, L = {L}, m² = 0.5 (HMC vs exact)",
        "",
        f"- ⟨φ²⟩ = {fsum['<phi^2>']} vs exact {p2_exact:.5f} (pull {fsum['<phi^2>'].pull(p2_exact):+.2f})",
        f"- G̃(k) over {len(pulls)} modes: max |pull| = {np.abs(pulls).max():.2f}, χ²/dof = {np.mean(pulls ** 2):.2f}",
        "",
        "![G(k)](free_propagator.png)",
        "",
    ]
    lines += oracle_tasks_section(lat, fcfg.couplings)

    # 2. the interacting point: HMC against independent reference values (L = 8)
    icfg = EnsembleConfig(L=L, m2=m2, lam=lam, chains=chains, therm=300, samples=samples, every=2, seed=2, device=device)
    ipath = os.path.join(out_dir, "phi4_L%d.h5" % L)
    run_ensemble(icfg, ipath, progress=progress)
    isum = summarize(read_ensemble(ipath).by_chain(), lat)
    lines += [f"## φ⁴, L = {L}, m² = {m2}, λ = {lam} (HMC)", "", "| observable | HMC | τ_int | reference | pull |", "|---|---|---|---|---|"]
    ref_ok = (L, m2, lam) == (8, -4.0, 4.572)
    for k, e in isum.estimates.items():
        if ref_ok and k in REFERENCE_L8:
            rv, re_ = REFERENCE_L8[k]
            ref, pull = format_value_error(rv, re_), f"{e.pull(rv, re_):+.2f}"
        else:
            ref, pull = "", ""
        lines.append(f"| {k.replace('|', chr(92) + '|')} | {e} | {e.tau_int:.2f} | {ref} | {pull} |")
    lines.append("")

    # 3. one trained model, several tasks, each compared with MCMC
    mlines, msummary = model_section(out_dir, L, m2, lam, h, chains, samples, train_steps, n_gen, progress, n_exact, device)
    lines += mlines

    report = os.path.join(out_dir, "report.md")
    with open(report, "w") as fh:
        fh.write("\n".join(lines))
    with open(os.path.join(out_dir, "summary.json"), "w") as fh:
        json.dump({"free": fsum.to_dict(), "phi4": isum.to_dict(), "tasks": msummary}, fh, indent=2, default=float)
    print("\n".join(lines))
    print(f"report: {report}")
    return report

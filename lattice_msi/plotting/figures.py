"""Standard figures: configuration grids, magnetization histograms, G̃(k) against exact values."""

from __future__ import annotations

import os

import numpy as np


def _figure(*args, **kw):
    from matplotlib.figure import Figure  # object API: no pyplot state, no display

    return Figure(*args, **kw)


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def plot_configs(rows: dict[str, np.ndarray], path: str, n: int = 4) -> str:
    """One row of n 2D configurations per named ensemble (e.g. reference vs generated)."""
    fig = _figure(figsize=(2 * n, 2 * len(rows)))
    axes = fig.subplots(len(rows), n, squeeze=False)
    vmax = max(float(np.abs(np.asarray(v[:n])).max()) for v in rows.values())
    for r, (name, cfgs) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.asarray(cfgs[c]), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name)
    return _save(fig, path)


def plot_magnetization_histograms(series: dict[str, np.ndarray], path: str, bins: int = 60, title: str = "") -> str:
    """Overlaid normalised histograms of M for several ensembles (Fig. 5 layout of the paper)."""
    fig = _figure(figsize=(5, 3.5))
    ax = fig.subplots()
    lo = min(float(np.min(v)) for v in series.values())
    hi = max(float(np.max(v)) for v in series.values())
    edges = np.linspace(lo, hi, bins + 1)
    for name, m in series.items():
        ax.hist(np.asarray(m), bins=edges, density=True, histtype="step", lw=1.5, label=name)
    ax.set_xlabel("magnetization M")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    return _save(fig, path)


def plot_propagator(khat2: np.ndarray, value: np.ndarray, error: np.ndarray, exact: np.ndarray | None, path: str) -> str:
    """G̃(k) against k̂² with error bars, and the exact curve when given."""
    fig = _figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.errorbar(khat2, value, yerr=error, fmt="o", ms=3, label="measured")
    if exact is not None:
        o = np.argsort(khat2)
        ax.plot(khat2[o], exact[o], "-", lw=1, label="exact")
    ax.set_xlabel(r"$\hat k^2$")
    ax.set_ylabel(r"$\tilde G(k)$")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    return _save(fig, path)


def plot_correlator(C: list, meff: list | None, path: str, exact: np.ndarray | None = None) -> str:
    """C(t) with error bars (log scale) and, when given, the effective mass beside it."""
    fig = _figure(figsize=(9 if meff else 5, 3.5))
    axes = fig.subplots(1, 2 if meff else 1, squeeze=False)[0]
    t = np.arange(len(C))
    axes[0].errorbar(t, [e.value for e in C], yerr=[e.error for e in C], fmt="o", ms=3, label="measured")
    if exact is not None:
        axes[0].plot(t, exact, "-", lw=1, label="exact")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("t")
    axes[0].set_ylabel("C(t)")
    axes[0].legend(frameon=False)
    if meff:
        tm = np.arange(1, len(meff) + 1)
        axes[1].errorbar(tm, [e.value for e in meff], yerr=[e.error for e in meff], fmt="o", ms=3)
        axes[1].set_xlabel("t")
        axes[1].set_ylabel(r"$m_{\rm eff}(t)$")
    return _save(fig, path)


def plot_tau_summary(estimates: dict, path: str) -> str:
    """τ_int of each observable with its error."""
    fig = _figure(figsize=(5, 3.5))
    ax = fig.subplots()
    names = list(estimates)
    ax.errorbar(np.arange(len(names)), [estimates[n].tau_int for n in names], yerr=[estimates[n].tau_int_error for n in names], fmt="o")
    ax.axhline(0.5, color="gray", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel(r"$\tau_{\rm int}$ (saved configurations)")
    return _save(fig, path)

"""Measure an ensemble (files or globs) and draw its figures: C(t) with m_eff, G̃(k), τ_int.

    python analysis/measure_and_plot.py 'data/run.shard*.h5' --out data/figures/run
"""

import argparse
import json
import os

import numpy as np

from lattice_msi.observables import measure_files
from lattice_msi.plotting import plot_correlator, plot_propagator, plot_tau_summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True, help="output stem: OUT.json, OUT_ct.png, OUT_gk.png, OUT_tau.png")
    a = ap.parse_args()
    m, attrs = measure_files(a.files)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".json", "w") as fh:
        json.dump({"attrs": {k: v for k, v in attrs.items() if k != "run_config"}, **m.to_dict()}, fh, indent=2, default=str)
    plot_correlator(m.Ct, m.meff, a.out + "_ct.png")
    plot_propagator(m.orbit_khat2, np.array([e.value for e in m.Gk]), np.array([e.error for e in m.Gk]), None, a.out + "_gk.png")
    plot_tau_summary(m.estimates, a.out + "_tau.png")
    print(m.table())


if __name__ == "__main__":
    main()

"""Magnetization histograms in the layout of the paper's Fig. 5: data, generated, posterior data, posterior generated.

    python analysis/fig5.py --data hmc.h5 --generated gen.h5 --posterior-data hmc_h.h5 --posterior-generated post.h5 --out fig5.png
"""

import argparse

from lattice_msi.io import open_ensembles
from lattice_msi.plotting import plot_magnetization_histograms


def magnetization(pattern):
    ds, attrs = open_ensembles(pattern)
    dims = [d for d in ds["phi"].dims if d != "config"]
    return ds["phi"].mean(dims).values


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data", "generated", "posterior-data", "posterior-generated"):
        ap.add_argument(f"--{name}", default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    series = {k.replace("_", " "): magnetization(v) for k, v in vars(a).items() if k != "out" and v}
    print(plot_magnetization_histograms(series, a.out))


if __name__ == "__main__":
    main()

"""Benchmark of drift-network training: throughput (samples/s), peak memory, and what design choices buy.

Variants on the same free-field data (L = 8 by default, where the exact drift is known):
  channels : operator as input channels (α map, A x) + FiLM embedding of mean α (the default)
  film-only: the operator only through the FiLM embedding (no α/Ax channels)
  spectral : default + a per-mode spectral layer in every block
  z2       : default made odd under φ → −φ
Each trains for the same number of steps; the script prints samples/s, the ratio to the default
(measured in the same run), peak memory, the validation loss and the relative error of η1
against the Gaussian oracle.

    python simulations/bench_training.py [--steps 400] [--L 8] [--device cpu]
"""

import argparse
import os
import resource
import tempfile
import time

import torch

from lattice_msi.interpolants import FreeFieldOracle, ScalarNu, SiteNu
from lattice_msi.lattice import Couplings, Lattice, free
from lattice_msi.models import DriftNet, NetConfig
from lattice_msi.training import TrainConfig, train


def peak_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--family", default="site")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    lat = Lattice(a.L, 2)
    c = Couplings(0.5, 0.0)
    data = free.sample(lat, c, 4096, torch.Generator().manual_seed(0)).float()
    oracle = FreeFieldOracle.from_couplings(lat, c)
    g = torch.Generator().manual_seed(1)
    nu = SiteNu(lat) if a.family == "site" else ScalarNu(lat)
    vb = nu.draw(oracle.sample(512, g).float(), g)
    eo = oracle(vb.x.double(), vb.op)
    variants = {"channels": {}, "film-only": {"condition": "film"}, "spectral": {"spectral": True}, "z2": {"z2": True}}
    base_rate = None
    print(f"L={a.L} family={a.family} width={a.width} depth={a.depth} batch={a.batch} steps={a.steps} device={dev} threads={torch.get_num_threads()}")
    for name, kw in variants.items():
        ncfg = NetConfig(L=a.L, family=a.family, width=a.width, depth=a.depth, **kw)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "ck.pt")
            t0 = time.perf_counter()
            res = train(ncfg, TrainConfig(steps=a.steps, batch=a.batch, lr=3e-3, val_every=a.steps), data, out, device=a.device, progress=False)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            dt = time.perf_counter() - t0
            net = DriftNet(ncfg)
            net.load_state_dict(torch.load(out, weights_only=True)["ema"])
        with torch.no_grad():
            e = net(vb.x, vb.op)
        rel = float((e.eta1.double() - eo.eta1).norm() / eo.eta1.norm())
        rate = a.steps * a.batch / dt
        base_rate = base_rate or rate
        print(f"{name:<10} {rate:9.0f} samples/s  ratio {rate / base_rate:5.2f}  peak {peak_mb(dev):7.0f} MB  val {list(res.val.values())[-1]:.4f}  |eta1 - oracle|/|oracle| {rel:.4f}")


if __name__ == "__main__":
    main()

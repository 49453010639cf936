"""Training a drift network on ensemble configurations: one loop for CPU, GPU and DDP.

Loss: E_{(A,B)~ν} E_{x0,x1} ‖η̂(I; A) − (x0 − x1)‖² / V with B = Id − A, data x1 drawn from the
configurations with the exact symmetries of φ⁴ applied at random (translations, reflections,
axis permutations, and φ → −φ when h = 0). AdamW, EMA of the weights, gradient-norm clipping;
bf16 autocast on CUDA; optional torch.compile. All randomness comes from one torch.Generator
whose state is checkpointed with the weights, EMA, optimizer and step, so a killed run resumes
exactly. Under torchrun every rank draws the same global batch and trains on its slice, and
DDP averages the gradients: the result equals a single process with the same global batch.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass, field

import torch

from ..errors import ConfigError, FileMismatchError, require_int
from ..interpolants import BlockNu, KnownRegionNu, MixtureNu, ModeNu, ScalarNu, SiteNu
from ..io import save_state
from ..lattice.geometry import Lattice
from ..models import DriftNet, NetConfig


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    ema: float = 0.995
    clip: float = 1.0
    seed: int = 0
    val_fraction: float = 0.1
    val_every: int = 100
    val_batch: int = 256
    checkpoint_every: int = 100
    augment: bool = True
    compile: bool = False

    def __post_init__(self):
        for k in ("steps", "batch", "val_every", "val_batch", "checkpoint_every"):
            require_int(k, getattr(self, k), 1)
        require_int("seed", self.seed, 0)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr = {self.lr} must be positive")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema = {self.ema} must lie in [0, 1)")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction = {self.val_fraction} must lie in (0, 1)")

    def to_dict(self):
        return asdict(self)


def default_nu(lattice: Lattice, family: str):
    """The training distribution of each family: what tasks a model of that family can do."""
    if family == "scalar":
        return ScalarNu(lattice)
    if family == "site":
        comps = [(ScalarNu(lattice), 1.0), (SiteNu(lattice), 1.0), (KnownRegionNu(lattice), 1.0)]
        if lattice.L % 2 == 0:
            comps.append((BlockNu(lattice, 2), 1.0))
        return MixtureNu(comps)
    return MixtureNu([(ScalarNu(lattice), 1.0), (ModeNu(lattice), 2.0)])


def augment(x: torch.Tensor, lattice: Lattice, g: torch.Generator, z2: bool) -> torch.Tensor:
    """Random exact symmetries per batch: translation per sample, reflections, axis permutation, sign."""
    n = x.shape[0]
    axes = lattice.axes
    shifts = torch.randint(0, lattice.L, (n, lattice.d), generator=g)
    idx = torch.arange(lattice.L)
    out = x
    for j, ax in enumerate(axes):  # per-sample cyclic shift along each axis via gather
        ind = (idx[None, :] + shifts[:, j : j + 1]) % lattice.L  # (n, L)
        shape = [n] + [1] * lattice.d
        shape[ax] = lattice.L
        out = torch.gather(out, ax, ind.view(shape).expand_as(out).to(out.device))
    flips = torch.rand(lattice.d, generator=g) < 0.5
    fl = [ax for ax, f in zip(axes, flips) if f]
    if fl:
        out = torch.flip(out, fl)
    perm = torch.randperm(lattice.d, generator=g)
    out = out.permute((0,) + tuple(int(p) + 1 for p in perm))
    if z2:
        sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(out.dtype).to(out.device)
        out = out * sign.view((n,) + (1,) * lattice.d)
    return out.contiguous()


@dataclass
class TrainResult:
    step: int
    history: list = field(default_factory=list)  # (step, train loss)
    val: dict = field(default_factory=dict)  # ν component → last validation loss
    rank_divergence: float = 0.0


def _dist():
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist, dist.get_rank(), dist.get_world_size()
    return None, 0, 1


def loss_fn(net, batch) -> torch.Tensor:
    pred = net.predict(batch.x, batch.op)
    return ((pred - batch.target) ** 2).mean()


def train(
    net_cfg: NetConfig,
    cfg: TrainConfig,
    data: torch.Tensor,
    out: str,
    meta: dict | None = None,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train (or resume from `out`) a DriftNet on configurations data (N, L, ..., L)."""
    lattice = Lattice(net_cfg.L, net_cfg.d)
    if tuple(data.shape[1:]) != lattice.shape:
        raise ConfigError(f"data has shape {tuple(data.shape)}, the network expects (N, {lattice.L}, ...)")
    meta = dict(meta or {})
    z2 = float(meta.get("h", 0.0)) == 0.0
    dist, rank, world = _dist()
    if cfg.batch % world:
        raise ConfigError(f"batch = {cfg.batch} must be divisible by the {world} ranks")
    dev = torch.device(device)
    g = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(data.shape[0], generator=g)
    n_val = max(1, int(cfg.val_fraction * data.shape[0]))
    val_data, train_data = data[perm[:n_val]].to(dev), data[perm[n_val:]].to(dev)
    nu = default_nu(lattice, net_cfg.family)

    torch.manual_seed(cfg.seed)  # parameter initialisation only; training randomness is in g
    net = DriftNet(net_cfg).to(dev)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, history = 0, []
    if os.path.exists(out):
        ck = torch.load(out, weights_only=True, map_location=dev)
        check_compatible(ck, net_cfg, meta, out)
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        g.set_state(ck["rng"])
        step, history = int(ck["step"]), list(ck["history"])
    model = net
    if dist is not None:
        model = torch.nn.parallel.DistributedDataParallel(net)
    fwd = torch.compile(model) if cfg.compile else model
    use_bf16 = dev.type == "cuda"

    def checkpoint():
        if rank == 0:
            save_state(out, {
                "model": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "rng": g.get_state(),
                "step": step, "history": history, "net_config": net_cfg.to_dict(), "train_config": cfg.to_dict(), "meta": meta,
            })

    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, disable=not progress or rank != 0, desc="train", unit="step")
    val = {}
    last = stop_after if stop_after is not None else cfg.steps
    while step < min(cfg.steps, last):
        idx = torch.randint(0, train_data.shape[0], (cfg.batch,), generator=g)
        x1 = train_data[idx]
        if cfg.augment:
            x1 = augment(x1, lattice, g, z2)
        batch = nu.draw(x1.to(torch.float32), g)
        if world > 1:
            sl = slice(rank * cfg.batch // world, (rank + 1) * cfg.batch // world)
            batch.x, batch.target = batch.x[sl], batch.target[sl]
            batch.op.a, batch.op.b = batch.op.a[sl], batch.op.b[sl]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            pred = fwd(batch.x, batch.op, raw=True)  # through forward, so that DDP's hooks run
            loss = ((pred.float() - batch.target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(cfg.ema).add_(p.detach(), alpha=1 - cfg.ema)
        step += 1
        lv = float(loss.detach())
        if not math.isfinite(lv):
            raise ConfigError(f"training loss became {lv} at step {step}; lower --lr")
        history.append((step, lv))
        if step % cfg.val_every == 0 or step == cfg.steps:
            val = validate(ema, nu, val_data, cfg, lattice)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
        if progress and rank == 0:
            bar.update(1)
            bar.set_postfix(loss=f"{lv:.4f}", **{f"val_{k}": f"{v:.4f}" for k, v in val.items()}, refresh=False)
    bar.close()
    div = 0.0
    if dist is not None:
        div = rank_divergence(net, dist)
    return TrainResult(step, history, val, div)


def validate(net, nu, val_data, cfg: TrainConfig, lattice: Lattice) -> dict:
    """Validation loss of each ν component on held-out configurations (fixed seed, no augmentation)."""
    comps = nu.components if isinstance(nu, MixtureNu) else [nu]
    out = {}
    g = torch.Generator().manual_seed(10_000 + cfg.seed)
    with torch.no_grad():
        for c in comps:
            idx = torch.randint(0, val_data.shape[0], (cfg.val_batch,), generator=g)
            b = c.draw(val_data[idx].to(torch.float32), g)
            if isinstance(nu, MixtureNu) and type(c.family) is not type(nu.family):
                b.op.family = nu.family
                b.op.a, b.op.b = nu.family.expand(b.op.a).clone(), nu.family.expand(b.op.b).clone()
            out[c.name] = float(loss_fn(net, b))
    return out


def rank_divergence(net, dist) -> float:
    """max |θ_rank − θ_0| over parameters and ranks (0 when DDP keeps the replicas identical)."""
    worst = torch.zeros(())
    for p in net.parameters():
        ref = p.detach().clone()
        dist.broadcast(ref, 0)
        worst = torch.maximum(worst, (p.detach() - ref).abs().max())
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst)


def check_compatible(ck: dict, net_cfg: NetConfig, meta: dict, path: str, allow_other_size: bool = False) -> None:
    """A checkpoint for another lattice or family is an error (unless size-agnostic and allowed)."""
    old = ck.get("net_config", {})
    for k in ("family", "d", "width", "depth", "kernel", "embed", "spectral", "z2", "condition"):
        if old.get(k) != getattr(net_cfg, k):
            raise FileMismatchError(f"{path!r} holds a network with {k} = {old.get(k)!r}, not {getattr(net_cfg, k)!r}")
    if old.get("L") != net_cfg.L and not (allow_other_size and old.get("size_agnostic")):
        raise FileMismatchError(f"{path!r} was trained at L = {old.get('L')}, not L = {net_cfg.L}")
    for k in ("m2", "lam", "h"):
        if k in meta and k in ck.get("meta", {}) and ck["meta"][k] != meta[k]:
            raise FileMismatchError(f"{path!r} was trained on {k} = {ck['meta'][k]!r}, not {meta[k]!r}")

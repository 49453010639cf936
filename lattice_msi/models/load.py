"""Loading a trained drift network from a checkpoint (torch.load(weights_only=True))."""

from __future__ import annotations

import os

import torch

from ..errors import FileMismatchError, LatticeMSIError
from .drift_net import DriftNet, NetConfig


def load_model(path: str, L: int | None = None, allow_other_size: bool = False, ema: bool = True, device="cpu"):
    """(network in eval mode, checkpoint meta). Another L is an error unless the model is
    size-agnostic and allow_other_size is set."""
    if not os.path.exists(path):
        raise LatticeMSIError(f"no checkpoint at {path!r}")
    try:
        ck = torch.load(path, weights_only=True, map_location=device)
        cfg = dict(ck["net_config"])
    except Exception as e:
        raise LatticeMSIError(f"{path!r} is not a drift-network checkpoint: {e}") from None
    if L is not None and L != cfg["L"]:
        if not (allow_other_size and cfg.get("size_agnostic")):
            raise FileMismatchError(f"{path!r} was trained at L = {cfg['L']}, not L = {L} (declare it size-agnostic to allow this)")
        cfg["L"] = L
    net = DriftNet(NetConfig(**cfg)).to(device)
    net.load_state_dict(ck["ema" if ema else "model"])
    net.eval()
    return net, dict(ck.get("meta", {}))

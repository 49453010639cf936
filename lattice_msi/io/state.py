"""Resume states: a dict of tensors and plain values, written atomically (write, fsync, rename)."""

from __future__ import annotations

import os

import torch

from ..errors import LatticeMSIError


def save_state(path: str, state: dict) -> None:
    """Replace the file at path by state; a kill at any moment leaves the old or the new one."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_state(path: str) -> dict:
    """Load a resume state with torch.load(weights_only=True)."""
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # a truncated or foreign file: say which
        raise LatticeMSIError(f"cannot read resume state {path!r}: {e}") from None

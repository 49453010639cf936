"""Resume states: a dict of tensors and plain values, written atomically (write, fsync, rename)."""

from __future__ import annotations

import os

import torch

from ..errors import LatticeMSIError


def save_state(path: str, state: dict) -> None:
    """Replace the file at path by state; a killed process leaves the old or the new one.

    The rename is atomic; there is no fsync (it costs milliseconds per save), so the guarantee
    covers a killed process, while after a power cut the OS decides what reached the disk.
    """
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
    os.replace(tmp, path)


def load_state(path: str) -> dict:
    """Load a resume state with torch.load(weights_only=True)."""
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # a truncated or foreign file: say which
        raise LatticeMSIError(f"cannot read resume state {path!r}: {e}") from None

"""Training drift networks: loss over ν, augmentation, AdamW + EMA, checkpoints, DDP."""

from .loop import TrainConfig, TrainResult, augment, check_compatible, default_nu, train

__all__ = ["TrainConfig", "TrainResult", "train", "augment", "default_nu", "check_compatible"]

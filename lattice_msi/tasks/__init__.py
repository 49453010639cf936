"""Tasks: a path through operator space + what is held fixed + a tilt, run by the one sampler.

Each builder returns a Task; `task.run(drift, n, generator, steps)` samples with any drift (the
Gaussian oracle or a trained network). Nothing here is a new sampler.
"""

from .tasks import (
    Task,
    any_order,
    coarse_to_fine,
    deblur,
    generate,
    inpaint,
    mass_shift,
    posterior,
    superres,
    coarse_generation,
    multiscale_generate,
)

__all__ = ["Task", "generate", "any_order", "coarse_to_fine", "inpaint", "superres", "deblur", "posterior", "mass_shift", "coarse_generation", "multiscale_generate"]

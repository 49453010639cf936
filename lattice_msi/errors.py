"""Typed errors raised at the public boundary; each message names the offending value."""


class LatticeMSIError(Exception):
    """Base class: the command line turns these into a one-line message and exit code 2."""


class ConfigError(LatticeMSIError, ValueError):
    """A parameter is out of its valid range, non-finite or inconsistent with another."""


class FileMismatchError(LatticeMSIError):
    """An existing file was made with other parameters than the ones now requested."""


class IncompleteFileError(LatticeMSIError):
    """A file is unfinished (a run is in progress or was killed) and was opened as complete."""


def require_int(name: str, value, minimum: int = 1) -> int:
    """Return value if it is an integer (not a bool) >= minimum, else raise ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
        raise ConfigError(f"{name} = {value!r} must be {what}")
    return value


def require_finite(name: str, value: float) -> float:
    """Return value as float, or raise ConfigError naming it when it is not a finite number."""
    import math

    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {value!r} is not a number") from None
    if not math.isfinite(v):
        raise ConfigError(f"{name} = {value!r} is not finite")
    return v

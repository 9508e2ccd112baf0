"""Argument checks shared by the variants and the batch runner: one error shape everywhere."""


def require(condition, name, value, allowed):
    """Raise ``ValueError`` naming the key, its value and what is allowed, unless ``condition``."""
    if not condition:
        raise ValueError(f"{name}={value!r} is not allowed: must be {allowed}")


def is_int(value) -> bool:
    """An int that is not a bool (``True`` is an ``int`` in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)

"""Replacement of torchvision's pure-Python functions while the adapter is enabled.

Kernels are switched at the dispatcher (C++); a few torchvision functions never reach a kernel we
could replace there (``batched_nms`` is Python). Those are swapped as module attributes here, each
with the original kept so that ``disable()`` puts back exactly what was there.
"""
from typing import Any, Callable, List, Tuple

_patches: List[Tuple[Any, str, Any, Any]] = []  # (module, attribute, original, replacement)
_applied = False


def register(module: Any, name: str, replacement: Callable) -> Callable:
    """Declares that ``module.name`` is replaced by ``replacement`` while the adapter is enabled."""
    original = getattr(module, name)
    _patches.append((module, name, original, replacement))
    if _applied:
        setattr(module, name, replacement)
    return original


def apply_all() -> None:
    global _applied
    for module, name, _, replacement in _patches:
        setattr(module, name, replacement)
    _applied = True


def restore_all() -> None:
    global _applied
    for module, name, original, _ in _patches:
        setattr(module, name, original)
    _applied = False

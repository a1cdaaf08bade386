"""The adapter switch: enable(), disable(), is_enabled() and the disabled() context manager."""
import contextlib
from typing import Iterator, List

import torch

from . import _patch


def enable() -> None:
    """Runs torchvision on this project's kernels (the state after import)."""
    torch.ops.torchvision_adapter._set_enabled(True)
    _patch.apply_all()


def disable() -> None:
    """Restores torchvision's own kernels and functions exactly."""
    torch.ops.torchvision_adapter._set_enabled(False)
    _patch.restore_all()


def is_enabled() -> bool:
    return bool(torch.ops.torchvision_adapter._is_enabled())


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """``with torchvision_adapter.disabled():`` runs torchvision's own kernels inside the block."""
    was = is_enabled()
    disable()
    try:
        yield
    finally:
        if was:
            enable()


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """``with torchvision_adapter.enabled():`` runs this project's kernels inside the block."""
    was = is_enabled()
    enable()
    try:
        yield
    finally:
        if not was:
            disable()


def overridden_ops() -> List[str]:
    """torchvision operators whose CPU kernels the adapter replaces."""
    return list(torch.ops.torchvision_adapter._overridden_ops())

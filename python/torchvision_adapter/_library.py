"""Locating and loading the native library (libtorchvision_adapter.so)."""
import os
from pathlib import Path

import torch

_LIB_NAME = "libtorchvision_adapter.so"
_loaded = None


def _candidates():
    env = os.environ.get("TORCHVISION_ADAPTER_LIBRARY")
    if env:
        yield Path(env)
    here = Path(__file__).resolve().parent
    yield here / "_lib" / _LIB_NAME  # an installed package
    yield here.parent.parent / "build" / "lib" / _LIB_NAME  # the source tree after `make build`


def library_path() -> str:
    """Path of the native library this process uses."""
    for path in _candidates():
        if path.is_file():
            return str(path)
    raise ImportError(
        f"torchvision_adapter: {_LIB_NAME} not found (looked in: "
        + ", ".join(str(p) for p in _candidates())
        + "). Run `make build` in the source tree, or set TORCHVISION_ADAPTER_LIBRARY."
    )


def load_library() -> str:
    global _loaded
    if _loaded is None:
        path = library_path()
        torch.ops.load_library(path)
        _loaded = path
    return _loaded

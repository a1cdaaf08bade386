"""Image backends: torchvision.set_image_backend / get_image_backend with "cv2" and "native" added.

====================  ==============================================================================
backend               what ``torchvision.datasets.folder.default_loader`` (and ImageFolder) returns
====================  ==============================================================================
``"PIL"`` (default)   a ``PIL.Image`` in RGB, torchvision's own behaviour
``"accimage"``        an ``accimage.Image`` (torchvision's accimage loader)
``"cv2"``             a ``numpy.ndarray`` [H, W, 3] uint8, RGB (OpenCV decodes, BGR converted to RGB)
``"native"``          a ``torch.uint8`` tensor [3, H, W] decoded by this project (equal to PIL's RGB)
====================  ==============================================================================

State. torchvision keeps the backends it knows ("PIL", "accimage") in ``torchvision._image_backend``;
choosing one of them sets that variable through torchvision's own function, so torchvision's code
paths agree. "cv2" and "native" are held here. The choice is independent of the kernel switch: it
survives ``torchvision_adapter.disable()``/``enable()``. While the adapter is disabled torchvision's
own ``set_image_backend``/``get_image_backend``/``default_loader`` are back in place, so only "PIL"
and "accimage" have an effect; "cv2"/"native" apply again after ``enable()``.

Worker processes. DataLoader workers started by fork inherit the choice. The choice is also written to
the environment variable ``TORCHVISION_ADAPTER_IMAGE_BACKEND``, read when the package is imported, so
spawned workers (and child processes) that import torchvision_adapter start with the same backend.
"""
import os

import torchvision

from . import _patch

__all__ = ["BACKENDS", "get_image_backend", "set_image_backend"]

BACKENDS = ("PIL", "accimage", "cv2", "native")
ENV_VAR = "TORCHVISION_ADAPTER_IMAGE_BACKEND"

_tv_set_image_backend = torchvision.set_image_backend
_tv_get_image_backend = torchvision.get_image_backend
_own_backend = None  # "cv2" or "native" when chosen, else None (torchvision's variable decides)

_INSTALL_HINTS = {
    "accimage": "the 'accimage' module is not importable; install it (e.g. `conda install -c conda-forge "
    "accimage`) to use the accimage backend",
    "cv2": "the 'cv2' module (OpenCV) is not importable; install it (Debian: `apt-get install "
    "python3-opencv`, pip: `pip install opencv-python-headless`) to use the cv2 backend",
}


def _check_importable(backend: str) -> None:
    if backend not in _INSTALL_HINTS:
        return
    try:
        __import__(backend)
    except ImportError as e:
        raise ImportError(f"set_image_backend('{backend}'): {_INSTALL_HINTS[backend]}") from e


def set_image_backend(backend: str) -> None:
    """Chooses what image loaders return: "PIL", "accimage", "cv2" or "native" (see the module doc).

    Raises:
        ValueError: unknown name (the message lists the options).
        ImportError: "accimage" or "cv2" chosen but that module is not importable; the backend is then
            left unchanged.
    """
    global _own_backend
    if backend not in BACKENDS:
        raise ValueError(
            f"Invalid backend '{backend}'. Options are 'PIL', 'accimage', 'cv2' and 'native'"
        )
    _check_importable(backend)
    if backend in ("PIL", "accimage"):
        _tv_set_image_backend(backend)
        _own_backend = None
    else:
        _own_backend = backend
    os.environ[ENV_VAR] = backend


def get_image_backend() -> str:
    """The backend image loaders use: "PIL", "accimage", "cv2" or "native"."""
    return _own_backend if _own_backend is not None else _tv_get_image_backend()


def _init_from_environment() -> None:
    """Applies TORCHVISION_ADAPTER_IMAGE_BACKEND (set by set_image_backend in a parent process)."""
    backend = os.environ.get(ENV_VAR)
    if not backend:
        return
    try:
        set_image_backend(backend)
    except (ValueError, ImportError) as e:
        import warnings

        warnings.warn(f"{ENV_VAR}={backend!r} ignored: {e}")


_patch.register(torchvision, "set_image_backend", set_image_backend)
_patch.register(torchvision, "get_image_backend", get_image_backend)
_init_from_environment()

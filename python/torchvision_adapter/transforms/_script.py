"""Replacements that stay transparent to TorchScript.

``torch.jit.script`` compiles the torchvision functions a scripted transform calls by reading their
source (``inspect`` follows ``__wrapped__``) and resolving names in the function's ``__globals__``.
A replacement built here forwards Python calls to our implementation, but carries the original's
``__wrapped__`` and module globals, so scripting compiles torchvision's own code unchanged.
"""
import functools
import types
from typing import Callable


def transparent(implementation: Callable, original: Callable) -> Callable:
    impl = implementation

    def forward(*args, **kwargs):
        return impl(*args, **kwargs)

    fn = types.FunctionType(forward.__code__, original.__globals__, original.__name__, None, forward.__closure__)
    functools.update_wrapper(fn, original)
    return fn


def transparent_closure(implementation: Callable, original: Callable) -> Callable:
    """Like ``transparent`` without the forwarding call: ``implementation`` itself runs under the
    original's name and globals, so every name it uses must be a builtin or a closure variable."""
    fn = types.FunctionType(
        implementation.__code__, original.__globals__, original.__name__, implementation.__defaults__,
        implementation.__closure__,
    )
    functools.update_wrapper(fn, original)
    return fn

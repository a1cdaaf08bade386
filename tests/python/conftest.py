"""Shared helpers: torchvision itself (adapter disabled) is the oracle."""
import pytest
import torch

import torchvision_adapter


def run_torchvision(fn, *args, **kwargs):
    """Calls fn with the adapter disabled (torchvision's own kernels), restoring the state after."""
    with torchvision_adapter.disabled():
        return fn(*args, **kwargs)


def run_adapter(fn, *args, **kwargs):
    with torchvision_adapter.enabled():
        return fn(*args, **kwargs)


@pytest.fixture(autouse=True)
def _adapter_enabled_and_single_thread():
    """Every test starts with the adapter on and leaves it on, with torch's default thread count."""
    threads = torch.get_num_threads()
    torchvision_adapter.enable()
    yield
    assert torchvision_adapter.is_enabled(), "a test left the adapter disabled"
    torch.set_num_threads(threads)

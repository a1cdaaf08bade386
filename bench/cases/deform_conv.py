"""deform_conv2d (DCNv2: offset + mask): forward and backward, torchvision vs adapter.

The forward cases also time ``torch.nn.functional.conv2d`` of the same shape as a peer: a deformable
convolution cannot beat the plain convolution it contains, so that ratio says how close to the floor
the adapter gets.
"""
import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

import torchvision_adapter

from ..harness import Case, Variant


def _inputs(batch, channels, out_channels, height, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, height, width, generator=g)
    w = torch.randn(out_channels, channels, 3, 3, generator=g) * 0.05
    b = torch.randn(out_channels, generator=g)
    off = torch.randn(batch, 18, height, width, generator=g) * 2
    mask = torch.rand(batch, 9, height, width, generator=g)
    return x, w, b, off, mask


def _check_close(a_fn, tol=1e-4):
    def check():
        with torchvision_adapter.disabled():
            ref = a_fn()
        with torchvision_adapter.enabled():
            ours = a_fn()
        ref = ref if isinstance(ref, (tuple, list)) else (ref,)
        ours = ours if isinstance(ours, (tuple, list)) else (ours,)
        for r, o in zip(ref, ours):
            scale = r.abs().max().item()
            err = (r - o).abs().max().item()
            assert err <= tol * scale, f"adapter differs from torchvision: {err} > {tol} * {scale}"

    return check


def _forward_case(name, batch, channels, height, width, rounds):
    x, w, b, off, mask = _inputs(batch, channels, channels, height, width)

    def fwd():
        return deform_conv2d(x, off, w, b, padding=1, mask=mask)

    return Case(
        "deform_conv2d",
        name,
        [
            Variant("torchvision", fwd, False),
            Variant("adapter", fwd, True),
            Variant("conv2d (floor)", lambda: F.conv2d(x, w, b, padding=1), None),
        ],
        rounds=rounds,
        check=_check_close(fwd),
    )


def _backward_case(name, batch, channels, height, width, rounds):
    x, w, b, off, mask = _inputs(batch, channels, channels, height, width)
    grad = torch.randn(batch, channels, height, width, generator=torch.Generator().manual_seed(1))

    def bwd():
        return torch.ops.torchvision._deform_conv2d_backward(
            grad, x, w, off, mask, b, 1, 1, 1, 1, 1, 1, 1, 1, True
        )

    return Case(
        "deform_conv2d",
        name,
        [Variant("torchvision", bwd, False), Variant("adapter", bwd, True)],
        rounds=rounds,
        check=_check_close(bwd),
    )


def cases(quick: bool):
    return [
        _forward_case("forward 1x256x50x76, 256->256 3x3, offset+mask", 1, 256, 50, 76, 3 if quick else 7),
        _backward_case("backward 1x256x50x76, 256->256 3x3, offset+mask", 1, 256, 50, 76, 2 if quick else 3),
        _forward_case("forward 8x64x64x64, 64->64 3x3, offset+mask", 8, 64, 64, 64, 3 if quick else 7),
    ]

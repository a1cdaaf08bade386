"""deform_conv2d (DCNv1/DCNv2): forward and every gradient equal to torchvision (adapter disabled),
gradcheck, boundary positions, errors, odd dtypes and layouts, TorchScript."""
import math
from dataclasses import dataclass, replace
from typing import Tuple

import pytest
import torch
import torchvision
from torchvision.ops import DeformConv2d, deform_conv2d

import torchvision_adapter
from conftest import run_torchvision


@dataclass(frozen=True)
class Cfg:
    batch: int = 2
    in_channels: int = 4
    height: int = 7
    width: int = 8
    out_channels: int = 6
    kernel: Tuple[int, int] = (3, 3)
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (1, 1)
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    offset_groups: int = 1
    mask: bool = True
    bias: bool = True
    offset_scale: float = 2.0

    def out_size(self):
        kh, kw = self.kernel
        oh = (self.height + 2 * self.padding[0] - (self.dilation[0] * (kh - 1) + 1)) // self.stride[0] + 1
        ow = (self.width + 2 * self.padding[1] - (self.dilation[1] * (kw - 1) + 1)) // self.stride[1] + 1
        return oh, ow


def make_inputs(cfg: Cfg, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    kh, kw = cfg.kernel
    oh, ow = cfg.out_size()
    x = torch.randn(cfg.batch, cfg.in_channels, cfg.height, cfg.width, generator=g, dtype=torch.float64)
    w = torch.randn(cfg.out_channels, cfg.in_channels // cfg.groups, kh, kw, generator=g, dtype=torch.float64)
    off = torch.randn(cfg.batch, 2 * cfg.offset_groups * kh * kw, oh, ow, generator=g, dtype=torch.float64)
    off = off * cfg.offset_scale
    mask = torch.rand(cfg.batch, cfg.offset_groups * kh * kw, oh, ow, generator=g, dtype=torch.float64)
    bias = torch.randn(cfg.out_channels, generator=g, dtype=torch.float64)
    t = lambda v: v.to(dtype).requires_grad_()  # noqa: E731
    return dict(
        input=t(x), offset=t(off), weight=t(w), bias=t(bias) if cfg.bias else None,
        mask=t(mask) if cfg.mask else None,
    )


def forward_and_grads(cfg: Cfg, args, seed=1):
    out = deform_conv2d(
        args["input"], args["offset"], args["weight"], args["bias"], stride=cfg.stride,
        padding=cfg.padding, dilation=cfg.dilation, mask=args["mask"],
    )
    g = torch.Generator().manual_seed(seed)
    grad_out = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out.dtype)
    names = [k for k in ("input", "offset", "weight", "bias", "mask") if args[k] is not None]
    grads = torch.autograd.grad(out, [args[k] for k in names], grad_out)
    return {"out": out.detach(), **{"grad_" + k: v for k, v in zip(names, grads)}}


TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def assert_close_rel(ours, ref, tol, what=""):
    """Max error within tol relative to the largest magnitude of the reference."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype, (what, ours.shape, ref.shape)
    scale = max(ref.abs().max().item(), 1e-30) if ref.numel() else 1.0
    err = (ours - ref).abs().max().item() if ref.numel() else 0.0
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:.0e} * {scale:.3g}"


def assert_matches_torchvision(cfg: Cfg, dtype=torch.float32, seed=0):
    args = make_inputs(cfg, dtype, seed)
    ours = forward_and_grads(cfg, args)
    ref = run_torchvision(forward_and_grads, cfg, args)
    assert ours.keys() == ref.keys()
    for k in ref:
        assert_close_rel(ours[k], ref[k], TOL[dtype], k)
    return ours


CONFIGS = {
    "basic": Cfg(),
    "dcnv1": Cfg(mask=False),
    "no_bias": Cfg(bias=False),
    "dcnv1_no_bias": Cfg(mask=False, bias=False),
    "stride_pad_dil_nonsquare": Cfg(height=11, width=9, stride=(2, 1), padding=(2, 0), dilation=(1, 2)),
    "stride_3_2": Cfg(height=12, width=13, stride=(3, 2), padding=(0, 1), dilation=(2, 1)),
    "groups": Cfg(in_channels=6, out_channels=4, groups=2),
    "groups_3": Cfg(in_channels=6, out_channels=9, groups=3, mask=False),
    "offset_groups": Cfg(in_channels=6, offset_groups=3),
    "groups_and_offset_groups": Cfg(in_channels=12, out_channels=8, groups=4, offset_groups=3),
    "offset_groups_per_channel": Cfg(in_channels=4, offset_groups=4, mask=False),
    "kernel_1x1": Cfg(kernel=(1, 1), padding=(0, 0)),
    "kernel_5x5": Cfg(kernel=(5, 5), padding=(2, 2), height=9, width=10),
    "kernel_2x3": Cfg(kernel=(2, 3), padding=(1, 0)),
    "kernel_3x1_stride": Cfg(kernel=(3, 1), stride=(1, 2), padding=(0, 1)),
    "far_outside": Cfg(offset_scale=12.0),
    "batch_5": Cfg(batch=5, height=5, width=6),
    "batch_34": Cfg(batch=34, in_channels=3, out_channels=2, height=4, width=5, offset_groups=3),
    "wide_channels": Cfg(batch=1, in_channels=40, out_channels=8, height=6, width=7, offset_groups=2),
    # Large enough for the kernel to split each image into several bands of output rows.
    "many_bands": Cfg(batch=2, in_channels=96, out_channels=4, height=40, width=30, kernel=(5, 5), padding=(2, 2),
                      groups=2, offset_groups=3, offset_scale=3.0),
    "many_bands_wide_rows": Cfg(batch=1, in_channels=256, out_channels=2, height=45, width=30, offset_scale=3.0),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_torchvision(name, dtype):
    assert_matches_torchvision(CONFIGS[name], dtype)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_counts(threads):
    torch.set_num_threads(threads)
    assert_matches_torchvision(replace(CONFIGS["many_bands"], batch=1), torch.float32, seed=3)
    assert_matches_torchvision(CONFIGS["groups_and_offset_groups"], torch.float64, seed=4)


def test_zero_offsets_equal_conv2d():
    for cfg in [Cfg(), Cfg(stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=2, in_channels=6),
                Cfg(kernel=(1, 1), padding=(0, 0))]:
        args = make_inputs(cfg, torch.float64)
        offset = torch.zeros_like(args["offset"])
        out = deform_conv2d(args["input"], offset, args["weight"], args["bias"], cfg.stride, cfg.padding,
                            cfg.dilation)
        ref = torch.nn.functional.conv2d(args["input"], args["weight"], args["bias"], cfg.stride, cfg.padding,
                                         cfg.dilation, cfg.groups)
        assert_close_rel(out, ref, 1e-12, "zero offsets vs conv2d")
        ones = torch.ones_like(args["mask"])
        out = deform_conv2d(args["input"], offset, args["weight"], args["bias"], cfg.stride, cfg.padding,
                            cfg.dilation, ones)
        assert_close_rel(out, ref, 1e-12, "zero offsets, unit mask vs conv2d")


@pytest.mark.parametrize("mask", [True, False])
def test_positions_on_integer_and_border_coordinates(mask):
    # Offsets that are multiples of 1/2 put sampling points exactly on pixels, on -1, on height - 1,
    # on height and beyond: every boundary rule of torchvision (value and coordinate gradient) is hit.
    cfg = Cfg(batch=2, in_channels=3, height=5, width=4, out_channels=2, mask=mask)
    for seed in range(3):
        args = make_inputs(cfg, torch.float64, seed)
        g = torch.Generator().manual_seed(seed + 10)
        half_steps = torch.randint(-12, 13, args["offset"].shape, generator=g).double() / 2
        args["offset"] = half_steps.requires_grad_()
        ours = forward_and_grads(cfg, args)
        ref = run_torchvision(forward_and_grads, cfg, args)
        for k in ref:
            assert_close_rel(ours[k], ref[k], 1e-12, k)


def test_exact_minus_one_position_has_offset_gradient_as_torchvision():
    # y == -1 exactly: the sample is 0, yet torchvision's coordinate gradient sees the row below.
    x = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    w = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    off = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    off[0, 0, 0, 1] = -1.0  # output (0, 1) samples at (-1, 1)
    args = lambda: [t.clone().requires_grad_() for t in (x, off, w)]  # noqa: E731

    def run(a):
        out = deform_conv2d(a[0], a[1], a[2])
        return (out.detach(), *torch.autograd.grad(out.sum(), a))

    ours, ref = run(args()), run_torchvision(run, args())
    assert ours[0][0, 0, 0, 1] == 0
    assert ref[2][0, 0, 0, 1] != 0
    for o, r in zip(ours, ref):
        assert_close_rel(o, r, 1e-12)


def test_gradcheck_float64():
    for cfg in [Cfg(batch=2, in_channels=2, out_channels=2, height=4, width=5, offset_scale=0.6),
                Cfg(batch=1, in_channels=4, out_channels=2, height=4, width=4, groups=2, offset_groups=2,
                    mask=False, stride=(2, 1), offset_scale=0.6)]:
        args = make_inputs(cfg, torch.float64, seed=5)
        names = [k for k in ("input", "offset", "weight", "bias", "mask") if args[k] is not None]

        def fn(*tensors):
            a = dict(args, **dict(zip(names, tensors)))
            return deform_conv2d(a["input"], a["offset"], a["weight"], a["bias"], cfg.stride, cfg.padding,
                                 cfg.dilation, a["mask"])

        assert torch.autograd.gradcheck(fn, tuple(args[k] for k in names), eps=1e-6, atol=1e-5)


def test_adapter_namespace_op_is_differentiable_while_disabled():
    cfg = Cfg(groups=2, offset_groups=2)
    args = make_inputs(cfg, torch.float64)
    ref = run_torchvision(forward_and_grads, cfg, args)
    with torchvision_adapter.disabled():
        out = torchvision_adapter.ops.deform_conv2d(
            args["input"], args["offset"], args["weight"], args["bias"], cfg.stride, cfg.padding, cfg.dilation,
            args["mask"],
        )
        g = torch.Generator().manual_seed(1)
        grad_out = torch.randn(out.shape, generator=g, dtype=torch.float64)
        grads = torch.autograd.grad(out, [args[k] for k in ("input", "offset", "weight", "bias", "mask")], grad_out)
    assert_close_rel(out.detach(), ref["out"], 1e-12)
    for k, gr in zip(("input", "offset", "weight", "bias", "mask"), grads):
        assert_close_rel(gr, ref["grad_" + k], 1e-12, k)


def test_module_and_torchscript():
    torch.manual_seed(0)
    m = DeformConv2d(4, 5, kernel_size=3, padding=1, stride=(1, 2), groups=1).double()
    x = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    off = torch.randn(2, 18, 6, 4, dtype=torch.float64)
    mask = torch.rand(2, 9, 6, 4, dtype=torch.float64)
    ref = run_torchvision(m, x, off, mask)
    assert_close_rel(m(x, off, mask), ref, 1e-12)
    scripted = torch.jit.script(m)
    assert_close_rel(scripted(x, off, mask), ref, 1e-12)
    assert_close_rel(scripted(x, off), run_torchvision(m, x, off), 1e-12)


def test_non_contiguous_and_channels_last_inputs():
    cfg = Cfg(in_channels=6, groups=2, offset_groups=3)
    args = make_inputs(cfg, torch.float64)
    ref = deform_conv2d(args["input"], args["offset"], args["weight"], args["bias"], padding=1, mask=args["mask"])
    x = args["input"].detach().contiguous(memory_format=torch.channels_last)
    off = args["offset"].detach().transpose(2, 3).contiguous().transpose(2, 3)
    w = args["weight"].detach().contiguous(memory_format=torch.channels_last)
    mask = args["mask"].detach().contiguous(memory_format=torch.channels_last)
    out = deform_conv2d(x, off, w, args["bias"], padding=1, mask=mask)
    assert_close_rel(out, ref.detach(), 1e-13)
    tv = run_torchvision(deform_conv2d, x, off, w, args["bias"], padding=1, mask=mask)
    assert_close_rel(out, tv, 1e-12)


def test_empty_batch():
    cfg = Cfg(batch=0)
    args = make_inputs(cfg, torch.float32)
    ours = forward_and_grads(cfg, args)
    ref = run_torchvision(forward_and_grads, cfg, args)
    for k in ref:
        assert ours[k].shape == ref[k].shape
        assert torch.equal(ours[k], ref[k]), k


def test_non_finite_offsets_do_not_crash():
    cfg = Cfg(batch=1)
    args = make_inputs(cfg, torch.float32)
    off = args["offset"].detach().clone()
    off[0, 0, 0, 0] = math.nan
    off[0, 3, 1, 1] = math.inf
    off[0, 5, 2, 2] = -math.inf
    off[0, 7, 3, 3] = 1e30
    off = off.requires_grad_()
    out = deform_conv2d(args["input"], off, args["weight"], args["bias"], padding=1, mask=args["mask"])
    out.sum().backward()
    assert torch.isnan(out[0, :, 0, 0]).all()  # the NaN position propagates
    assert torch.isfinite(out[0, :, 1:, 1:]).all()  # +-inf and huge offsets sample zeros


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_computes_in_float(dtype):
    # torchvision's CPU kernel rejects these dtypes; ours computes in float32 and rounds once.
    cfg = Cfg(in_channels=8, out_channels=4, offset_scale=1.0)
    args = make_inputs(cfg, dtype)
    ours = forward_and_grads(cfg, args)
    args64 = {k: (v.detach().double().requires_grad_() if v is not None else None) for k, v in args.items()}
    ref = run_torchvision(forward_and_grads, cfg, args64)
    tol = 1e-2 if dtype == torch.float16 else 4e-2
    for k in ref:
        assert ours[k].dtype == dtype, k
        assert_close_rel(ours[k].double(), ref[k], tol, k)


def _call(input, offset, weight, mask=None, bias=None, **kw):
    return deform_conv2d(input, offset, weight, bias, mask=mask, **kw)


def test_bad_shapes_raise_clear_errors():
    x = torch.randn(1, 4, 6, 6)
    w = torch.randn(5, 4, 3, 3)
    off = torch.randn(1, 18, 4, 4)
    mask = torch.rand(1, 9, 4, 4)
    with pytest.raises(RuntimeError, match=r"offset should have 2 \* offset_groups \* kernel_h \* kernel_w = .* = 18 channels"):
        _call(x, torch.randn(1, 20, 4, 4), w)
    with pytest.raises(RuntimeError, match=r"offset should have a multiple of 2 \* kernel_height \* kernel_width"):
        torchvision_adapter.ops.deform_conv2d(x, torch.randn(1, 10, 4, 4), w)
    with pytest.raises(RuntimeError, match=r"mask should have offset_groups \* kernel_h \* kernel_w = .* = 9 channels"):
        _call(x, off, w, mask=torch.rand(1, 8, 4, 4))
    with pytest.raises(RuntimeError, match=r"mask should have batch size 1"):
        _call(x, off, w, mask=torch.rand(2, 9, 4, 4))
    with pytest.raises(RuntimeError, match=r"mask should have the output's spatial size 4x4"):
        _call(x, off, w, mask=torch.rand(1, 9, 4, 5))
    with pytest.raises(RuntimeError, match=r"offset should have the output's spatial size 4x4"):
        _call(x, torch.randn(1, 18, 5, 4), w)
    with pytest.raises(RuntimeError, match=r"offset should have batch size 1"):
        _call(x, torch.randn(3, 18, 4, 4), w)
    with pytest.raises(RuntimeError, match=r"weight should have in_channels / groups = 4 / 1 channels"):
        _call(x, off, torch.randn(5, 3, 3, 3))
    with pytest.raises(RuntimeError, match=r"weight should have a multiple of groups = 2 output channels"):
        _call(x, off, torch.randn(5, 2, 3, 3))
    with pytest.raises(RuntimeError, match=r"bias should have out_channels = 5"):
        _call(x, off, w, bias=torch.randn(4))
    with pytest.raises(RuntimeError, match=r"input and offset must have the same dtype"):
        _call(x, off.double(), w)
    with pytest.raises(RuntimeError, match=r"input and mask must have the same dtype"):
        _call(x, off, w, mask=mask.double())
    with pytest.raises(RuntimeError, match=r"calculated output size too small"):
        _call(torch.randn(1, 4, 2, 2), torch.randn(1, 18, 1, 1), w)
    with pytest.raises(RuntimeError, match=r"input should be a 4d tensor"):
        torch.ops.torchvision.deform_conv2d(x[0], w, off, mask, torch.zeros(5), 1, 1, 0, 0, 1, 1, 1, 1, True)
    with pytest.raises(RuntimeError, match=r"offset_groups should be positive"):
        torch.ops.torchvision.deform_conv2d(x, w, off, mask, torch.zeros(5), 1, 1, 0, 0, 1, 1, 1, 0, True)
    with pytest.raises(RuntimeError, match=r"stride should be positive"):
        torch.ops.torchvision.deform_conv2d(x, w, off, mask, torch.zeros(5), 0, 1, 0, 0, 1, 1, 1, 1, True)
    with pytest.raises(RuntimeError, match=r"input must be a floating point tensor"):
        torch.ops.torchvision.deform_conv2d(
            x.long(), w.long(), off.long(), mask.long(), torch.zeros(5).long(), 1, 1, 0, 0, 1, 1, 1, 1, True)


def test_backward_op_checks_grad_shape():
    x, w = torch.randn(1, 4, 6, 6), torch.randn(5, 4, 3, 3)
    off, mask, b = torch.randn(1, 18, 4, 4), torch.rand(1, 9, 4, 4), torch.zeros(5)
    with pytest.raises(RuntimeError, match=r"grad should have the output's shape \[1, 5, 4, 4\]"):
        torch.ops.torchvision._deform_conv2d_backward(
            torch.randn(1, 5, 4, 3), x, w, off, mask, b, 1, 1, 0, 0, 1, 1, 1, 1, True)


def test_torchvision_op_is_overridden():
    assert "deform_conv2d" in torchvision_adapter.overridden_ops()
    assert "_deform_conv2d_backward" in torchvision_adapter.overridden_ops()
    assert torchvision.ops.deform_conv2d is deform_conv2d


def test_adapter_wrapper_scripts_and_accepts_int_arguments():
    cfg = Cfg(stride=(2, 2), padding=(1, 1), dilation=(1, 1))
    args = {k: (v.detach() if v is not None else None) for k, v in make_inputs(cfg, torch.float64).items()}
    ref = run_torchvision(deform_conv2d, args["input"], args["offset"], args["weight"], args["bias"], 2, 1, 1,
                          args["mask"])
    ours = torchvision_adapter.ops.deform_conv2d(args["input"], args["offset"], args["weight"], args["bias"], 2, 1,
                                                 1, args["mask"])
    assert_close_rel(ours, ref, 1e-12)
    scripted = torch.jit.script(torchvision_adapter.ops.deform_conv2d)
    out = scripted(args["input"], args["offset"], args["weight"], args["bias"], (2, 2), (1, 1), (1, 1), args["mask"])
    assert_close_rel(out, ref, 1e-12)

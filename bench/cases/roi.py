"""RoI operators: boxes of 4-200 px (batch index 0) in an 800 x 1216 image, on feature maps of that
image scaled by 1/4 (roi_align, roi_pool) or 1/16 (ps_roi_align, ps_roi_pool, R-FCN sizes)."""
import torch

import torchvision_adapter
from ..harness import tv_vs_adapter

IMAGE_H, IMAGE_W = 800, 1216


def random_rois(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    wh = 4 + torch.rand(n, 2, generator=g) * 196
    xy = torch.rand(n, 2, generator=g) * (torch.tensor([IMAGE_W, IMAGE_H]) - wh)
    return torch.cat([torch.zeros(n, 1), xy, xy + wh], 1)


def features(c: int, scale: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, c, round(IMAGE_H * scale), round(IMAGE_W * scale), generator=g)


def same_result(fn, exact=True):
    """A check that the adapter's result equals torchvision's: bit for bit, or (exact=False, for
    roi_align forward, whose row sampler regroups the bilinear arithmetic) within 1e-5 relative to
    the output's magnitude."""

    def check():
        with torchvision_adapter.disabled():
            ref = fn()
        with torchvision_adapter.enabled():
            out = fn()
        ref = ref if isinstance(ref, tuple) else (ref,)
        out = out if isinstance(out, tuple) else (out,)
        for a, b in zip(out, ref):
            if exact:
                assert torch.equal(a, b), "adapter and torchvision disagree"
            else:
                scale = b.abs().max().item() if b.numel() else 0.0
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * scale)

    return check


def case(name, fn, rounds, exact=True):
    return tv_vs_adapter("roi", name, fn, rounds=rounds, check=same_result(fn, exact))


def cases(quick: bool):
    tv = torch.ops.torchvision
    c = 64 if quick else 256
    k = 200 if quick else 1000
    k_mask = 50 if quick else 100
    k_ps = 100 if quick else 300
    rounds = 3
    x = features(c, 0.25)
    rois = random_rois(k)
    rois_mask = random_rois(k_mask, seed=2)
    fm = f"1x{c}x{x.shape[2]}x{x.shape[3]}"
    out = [
        case(f"roi_align fwd {fm}, {k} rois, 7x7, sr 2, aligned",
             lambda: tv.roi_align(x, rois, 0.25, 7, 7, 2, True), rounds, exact=False),
        case(f"roi_align fwd {fm}, {k} rois, 7x7, sr -1, aligned",
             lambda: tv.roi_align(x, rois, 0.25, 7, 7, -1, True), rounds),
    ]
    g = torch.randn(k, c, 7, 7, generator=torch.Generator().manual_seed(3))
    n, _, h, w = x.shape
    out.append(case(f"roi_align bwd {fm}, {k} rois, 7x7, sr 2, aligned",
                    lambda: tv._roi_align_backward(g, rois, 0.25, 7, 7, n, c, h, w, 2, True), rounds))
    out.append(case(f"roi_align fwd {fm}, {k_mask} rois, 14x14, sr 2 (mask head)",
                    lambda: tv.roi_align(x, rois_mask, 0.25, 14, 14, 2, False), rounds, exact=False))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    out.append(case(f"roi_align fwd {fm} channels-last, {k} rois, 7x7, sr 2, aligned",
                    lambda: tv.roi_align(x_cl, rois, 0.25, 7, 7, 2, True), rounds))
    out.append(case(f"roi_pool fwd {fm}, {k} rois, 7x7",
                    lambda: tv.roi_pool(x, rois, 0.25, 7, 7), rounds))
    _, argmax = tv.roi_pool(x, rois, 0.25, 7, 7)
    out.append(case(f"roi_pool bwd {fm}, {k} rois, 7x7",
                    lambda: tv._roi_pool_backward(g, rois, argmax, 0.25, 7, 7, n, c, h, w), rounds))

    xp = features(490, 1 / 16)
    rois_ps = random_rois(k_ps, seed=4)
    n_p, c_p, h_p, w_p = xp.shape
    fp = f"1x{c_p}x{h_p}x{w_p}"
    out.append(case(f"ps_roi_align fwd {fp}, {k_ps} rois, 7x7, sr -1",
                    lambda: tv.ps_roi_align(xp, rois_ps, 1 / 16, 7, 7, -1), 5))
    out.append(case(f"ps_roi_pool fwd {fp}, {k_ps} rois, 7x7",
                    lambda: tv.ps_roi_pool(xp, rois_ps, 1 / 16, 7, 7), 5))
    gp = torch.randn(k_ps, c_p // 49, 7, 7, generator=torch.Generator().manual_seed(5))
    _, cm_align = tv.ps_roi_align(xp, rois_ps, 1 / 16, 7, 7, -1)
    _, cm_pool = tv.ps_roi_pool(xp, rois_ps, 1 / 16, 7, 7)
    out.append(case(f"ps_roi_align bwd {fp}, {k_ps} rois, 7x7, sr -1",
                    lambda: tv._ps_roi_align_backward(gp, rois_ps, cm_align, 1 / 16, 7, 7, -1, n_p, c_p, h_p, w_p), 5))
    out.append(case(f"ps_roi_pool bwd {fp}, {k_ps} rois, 7x7",
                    lambda: tv._ps_roi_pool_backward(gp, rois_ps, cm_pool, 1 / 16, 7, 7, n_p, c_p, h_p, w_p), 5))
    return out

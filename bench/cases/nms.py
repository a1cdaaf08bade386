"""nms and batched_nms: random boxes in an 800 px image, sides 4-200 px, IoU 0.5."""
import torch
import torchvision

from ..harness import tv_vs_adapter


def random_boxes(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 800
    wh = 4 + torch.rand(n, 2, generator=g) * 196
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g)


def cases(quick: bool):
    out = []
    for n in [1000, 5000] + ([] if quick else [20000]):
        boxes, scores = random_boxes(n)
        out.append(
            tv_vs_adapter(
                "nms", f"nms {n} boxes", lambda b=boxes, s=scores: torchvision.ops.nms(b, s, 0.5),
                rounds=3 if n > 5000 else 7,
            )
        )
    n = 5000 if quick else 20000
    boxes, scores = random_boxes(n, seed=1)
    idxs = torch.randint(0, 80, (n,), generator=torch.Generator().manual_seed(2))
    out.append(
        tv_vs_adapter(
            "nms",
            f"batched_nms {n} boxes, 80 classes",
            lambda: torchvision.ops.batched_nms(boxes, scores, idxs, 0.5),
            rounds=5,
        )
    )
    return out

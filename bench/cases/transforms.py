"""Image transforms on a uint8 3x480x640 tensor: each functional op, torchvision's tensor path vs the
adapter; detection preprocessing (1333x800 keep-ratio + normalize + pad 32) fused vs composed."""
import torch
from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

from torchvision_adapter.transforms import detection_preprocess

from ..harness import Case, Variant, tv_vs_adapter

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def photo(h=480, w=640, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    base = 127 + 100 * torch.sin(5 * x + 2 * y) * torch.cos(3 * y)
    return (base + torch.randn(3, h, w, generator=g) * 10).round().clamp(0, 255).to(torch.uint8)


def cases(quick: bool):
    img = photo()
    imgf = img.float() / 255
    bl, bc, nn = InterpolationMode.BILINEAR, InterpolationMode.BICUBIC, InterpolationMode.NEAREST
    # Every functional op of the tensor path, one row each, on the same uint8 3x480x640 photo
    # (normalize takes the float image users get from it).
    quad = [[0, 0], [639, 0], [639, 479], [0, 479]]
    torch.manual_seed(0)
    displacement = T.ElasticTransform.get_params([50.0, 50.0], [5.0, 5.0], [480, 640])
    ops = [
        ("resize 224x224 nearest", lambda: F.resize(img, [224, 224], nn)),
        ("resize 224x224 bilinear", lambda: F.resize(img, [224, 224], bl)),
        ("resize 224x224 bilinear antialias", lambda: F.resize(img, [224, 224], bl, antialias=True)),
        ("resize 224x224 bicubic", lambda: F.resize(img, [224, 224], bc)),
        ("resize 224x224 bicubic antialias", lambda: F.resize(img, [224, 224], bc, antialias=True)),
        ("resize up 800x1067 bilinear", lambda: F.resize(img, [800, 1067], bl)),
        ("resize 224x224 bilinear, float32 input", lambda: F.resize(imgf, [224, 224], bl)),
        ("crop 300x400 (a view)", lambda: F.crop(img, 50, 60, 300, 400)),
        ("center_crop 224 (a view)", lambda: F.center_crop(img, [224, 224])),
        ("resized_crop 300x400 -> 224 bilinear", lambda: F.resized_crop(img, 50, 60, 300, 400, [224, 224])),
        ("resized_crop 300x400 -> 224 antialias", lambda: F.resized_crop(img, 50, 60, 300, 400, [224, 224], antialias=True)),
        ("pad 16 constant", lambda: F.pad(img, 16)),
        ("pad 16 edge", lambda: F.pad(img, 16, padding_mode="edge")),
        ("pad 16 reflect", lambda: F.pad(img, 16, padding_mode="reflect")),
        ("pad 16 symmetric", lambda: F.pad(img, 16, padding_mode="symmetric")),
        ("hflip", lambda: F.hflip(img)),
        ("vflip", lambda: F.vflip(img)),
        ("normalize float32", lambda: F.normalize(imgf, MEAN, STD)),
        ("convert_image_dtype uint8 -> float32", lambda: F.convert_image_dtype(img, torch.float32)),
        ("rgb_to_grayscale", lambda: F.rgb_to_grayscale(img)),
        ("adjust_brightness", lambda: F.adjust_brightness(img, 1.3)),
        ("adjust_contrast", lambda: F.adjust_contrast(img, 1.3)),
        ("adjust_saturation", lambda: F.adjust_saturation(img, 1.3)),
        ("adjust_hue", lambda: F.adjust_hue(img, 0.1)),
        ("adjust_gamma", lambda: F.adjust_gamma(img, 0.8)),
        ("adjust_sharpness", lambda: F.adjust_sharpness(img, 1.5)),
        ("posterize", lambda: F.posterize(img, 3)),
        ("solarize", lambda: F.solarize(img, 128)),
        ("invert", lambda: F.invert(img)),
        ("autocontrast", lambda: F.autocontrast(img)),
        ("equalize", lambda: F.equalize(img)),
        ("gaussian_blur 5x5", lambda: F.gaussian_blur(img, [5, 5], [1.5, 1.5])),
        ("rotate 30 nearest", lambda: F.rotate(img, 30.0)),
        ("rotate 30 bilinear, fill", lambda: F.rotate(img, 30.0, bl, fill=[0, 0, 0])),
        ("affine bilinear", lambda: F.affine(img, 10.0, [20, 10], 1.1, [5.0, 3.0], bl)),
        ("perspective bilinear", lambda: F.perspective(img, quad, [[10, 5], [600, 20], [630, 470], [5, 400]])),
        ("elastic_transform bilinear", lambda: F.elastic_transform(img, displacement)),
    ]
    if quick:
        keep = {"resize 224x224 bilinear", "resize 224x224 bilinear antialias", "normalize float32",
                "adjust_hue", "hflip", "gaussian_blur 5x5"}
        ops = [o for o in ops if o[0] in keep]
    # Per-call times in a loop of the same call: one untimed call after each switch (warm=1), for both.
    out = [tv_vs_adapter("transforms", f"{name}, uint8 3x480x640", fn, rounds=7, inner=3, warm=1) for name, fn in ops]
    # Floors: for the ops that are one view or one pass over memory, the least work any implementation
    # of the op has to do, timed the same way. torchvision's time over the floor's is the most any
    # implementation can gain.
    # The copies write into a tensor allocated once (no allocation or page faults in the floor).
    st = img.stride()
    copied = torch.empty_like(imgf)
    floors = {
        "crop 300x400 (a view)": ("floor: the view alone (as_strided)",
                                  lambda: img.as_strided((3, 300, 400), st, 50 * st[1] + 60)),
        "center_crop 224 (a view)": ("floor: the view alone (as_strided)",
                                     lambda: img.as_strided((3, 224, 224), st, 128 * st[1] + 208)),
        "normalize float32": ("floor: the input copied (copy_)", lambda: copied.copy_(imgf)),
        "convert_image_dtype uint8 -> float32": ("floor: the conversion alone (copy_ to float32)",
                                                 lambda: copied.copy_(img)),
        "resize 224x224 bilinear, float32 input": ("floor: the input read once (sum)", lambda: imgf.sum()),
    }
    for c in out:
        floor = floors.get(c.name[: -len(", uint8 3x480x640")])
        if floor is not None:
            c.variants.append(Variant(floor[0], floor[1], None))

    pil = Image.fromarray(img.permute(1, 2, 0).numpy())
    out.append(
        Case(
            "transforms",
            "to_tensor: torchvision on a PIL image vs adapter on the uint8 tensor",
            [Variant("torchvision PIL", lambda: F.to_tensor(pil), False),
             Variant("adapter tensor", lambda: F.to_tensor(img), True)],
            rounds=7, inner=3, warm=1,
        )
    )

    train = T.Compose([T.RandomResizedCrop(224, antialias=True), T.RandomHorizontalFlip(),
                       T.ColorJitter(0.4, 0.4, 0.4), T.ConvertImageDtype(torch.float32), T.Normalize(MEAN, STD)])

    def pipeline():
        torch.manual_seed(0)
        return train(img)

    out.append(tv_vs_adapter("transforms", "train pipeline RRC(aa)+flip+jitter+normalize", pipeline, rounds=5))

    def composed():
        from torchvision_adapter import disabled

        with disabled():
            r = F.resize(img, [800, 1067], InterpolationMode.BILINEAR)
            x = F.normalize(r.float(), [123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
            return F.pad(x, [0, 0, 1088 - 1067, 0])

    out.append(
        Case(
            "transforms",
            "detection preprocess 480x640 -> 1333x800 keep-ratio, normalize, pad 32",
            [Variant("torchvision ops", composed, None),
             Variant("adapter fused", lambda: detection_preprocess(img)[0], None)],
            rounds=5,
        )
    )
    return out

"""tva_runner end to end: a scripted RetinaNet over COCO-sized photos, torchvision's kernels
(--adapter off, torchvision's library loaded into the runner) vs the adapter's (--adapter on).

The timed unit is one whole run of the tool (start, model load, two warm-up calls (TorchScript's profiling executor optimises the graph on
the second), every image once), so
start-up costs weigh the same on both sides. After each run the runner's own compute-only figures
(summary.json: mean compute time per batch, images/s) are printed as well, with their ratio.
--quick uses a small RetinaNet (ResNet-18 FPN, 256 px); the full run torchvision's
retinanet_resnet50_fpn at its default 800 px (random weights: detections are not meaningful, the work is).
"""
import json
import subprocess
import tempfile
from pathlib import Path

import torch

from ..harness import Case, Variant

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "build" / "bin" / "tva_runner"
PHOTOS = Path("/usr/share/backgrounds/mate/nature")


def _photos(folder: Path, count: int):
    from PIL import Image

    files = sorted(PHOTOS.glob("*.jpg"))[:count]
    for i, f in enumerate(files):
        with Image.open(f) as im:
            im.convert("RGB").resize((640, 427), Image.BILINEAR).save(folder / f"{i:03d}.jpg", quality=90)
    return len(files)


def _model(path: Path, quick: bool) -> str:
    from torchvision_adapter.tools.models import scripted, tiny_retinanet

    if quick:
        model = tiny_retinanet(min_size=256, max_size=384)
    else:
        import torchvision

        torch.manual_seed(0)
        model = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None).eval()
    return scripted(model, str(path))


def cases(quick: bool):
    if not RUNNER.is_file():
        print(f"[runner] {RUNNER} is missing (run `make build`): case skipped")
        return []
    work = Path(tempfile.mkdtemp(prefix="tva_bench_runner_"))
    images = work / "images"
    images.mkdir()
    count = _photos(images, 2 if quick else 3)
    if count == 0:
        print(f"[runner] no photos in {PHOTOS} (package mate-backgrounds): case skipped")
        return []
    model = _model(work / "model.pt", quick)
    last = {}

    def run(adapter: str):
        out = work / f"out_{adapter}"
        subprocess.run([str(RUNNER), "--model", model, "--input", str(images), "--adapter", adapter,
                        "--threads", str(torch.get_num_threads()), "--warmup", "2", "--output", str(out)],
                       check=True, capture_output=True)
        s = json.loads((out / "summary.json").read_text())
        last[adapter] = s
        if adapter == "on" and "off" in last:
            off, on = last["off"], last["on"]
            print(f"    [tva_runner compute only, {on['threads']} thread(s)] mean per image: off "
                  f"{off['compute_time']['mean']:.1f} ms, on {on['compute_time']['mean']:.1f} ms; "
                  f"throughput off {off['throughput']:.2f}, on {on['throughput']:.2f} images/s, "
                  f"ratio x{on['throughput'] / off['throughput']:.2f}", flush=True)

    name = ("tiny RetinaNet R18-FPN 256px" if quick else "retinanet_resnet50_fpn 800px") + \
        f", {count} photos 640x427, tva_runner"
    return [Case("runner", name,
                 [Variant("torchvision", lambda: run("off")), Variant("adapter", lambda: run("on"))],
                 rounds=1, items=count)]

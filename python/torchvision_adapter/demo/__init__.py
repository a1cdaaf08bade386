"""`make demo`: the end-to-end detection pipeline on this machine, with nothing to download.

1. makes a synthetic COCO-format dataset (coloured shapes on Debian-packaged photos, train and val),
2. trains a small Faster R-CNN from scratch with the adapter on, for a fixed, seeded number of steps,
3. evaluates it with COCO's bbox metrics on the val split,
4. times inference and a training step with the adapter off and on (same model, same images) and
   checks both give the same detections,
5. compares torchvision's nms / batched_nms with the adapter's,
and writes a report folder (Markdown, plots, images with detections). Re-running reuses the dataset
and the trained weights from ``<output>/cache`` when they match the configuration.

    python -m torchvision_adapter.demo [--quick] [--output demo_output]
"""
import argparse
import dataclasses
import json
import os
import platform
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torchvision

import torchvision_adapter

from . import data, evaluate, model as model_lib, nms_side_by_side, report, throughput
from . import train as train_lib
from .train import TrainConfig

# Bump when the model definition changes, so cached weights of another architecture are not reused.
MODEL_VERSION = "frcnn-tinyresnet-fpn-v1"


@dataclass(frozen=True)
class Profile:
    dataset: data.DatasetConfig
    training: TrainConfig
    throughput_images: int
    throughput_rounds: int
    train_steps_timed: int
    max_train_seconds: float  # a safety net for loaded machines; the recipe itself is the step count
    eval_images: int = 0  # 0: the whole val split


PROFILES = {
    "default": Profile(data.DatasetConfig(train_images=1500, val_images=200), TrainConfig(iterations=800),
                       throughput_images=48, throughput_rounds=2, train_steps_timed=6, max_train_seconds=420),
    "quick": Profile(data.DatasetConfig(train_images=300, val_images=48), TrainConfig(iterations=150),
                     throughput_images=16, throughput_rounds=2, train_steps_timed=3, max_train_seconds=75),
}


class _Log:
    """Prints to the terminal and keeps the lines for the report."""

    def __init__(self):
        self.lines: List[str] = []

    def __call__(self, *parts) -> None:
        line = " ".join(str(p) for p in parts)
        self.lines.append(line)
        print(line, flush=True)


def _train_or_load(p: Profile, folder: str, cache: str, args, log: _Log):
    num_classes = len(data.CATEGORIES)
    net = model_lib.build_detector(num_classes, p.dataset.image_size, seed=p.training.seed)
    path = _model_path(p, cache)
    if os.path.exists(path) and not args.no_cache:
        ckpt = torch.load(path)
        net.load_state_dict(ckpt["state_dict"])
        net.eval()
        log(f"model: reusing trained weights {path} (cached; trained {ckpt['iterations_done']} iterations "
            f"in {ckpt['seconds']:.0f} s)")
        return net, ckpt, True
    ds = data.CocoDetection(folder, "train")
    log(f"model: Faster R-CNN, tiny ResNet + FPN backbone, "
        f"{sum(q.numel() for q in net.parameters()) / 1e6:.2f} M parameters, from scratch (no download)")
    log(f"training: {p.training.iterations} iterations x {p.training.batch_size} images, SGD lr "
        f"{p.training.lr} (warm-up + cosine), seed {p.training.seed}, adapter on")
    limit = None if args.max_train_seconds <= 0 else args.max_train_seconds
    with torchvision_adapter.enabled():
        res = train_lib.train(net, ds, p.training, progress=not args.no_progress, max_seconds=limit)
    ckpt = {"state_dict": net.state_dict(), **{k: v for k, v in res.items()}}
    if res["stopped_early"]:
        log(f"training: STOPPED at the {limit:.0f} s time cap after {res['iterations_done']} of "
            f"{p.training.iterations} iterations (machine slower than planned); these weights are not the "
            f"reproducible recipe and are not cached. --max-train-seconds 0 trains fully.")
    else:
        torch.save(ckpt, path)
        log(f"training: {res['iterations_done']} iterations in {res['seconds']:.0f} s "
            f"({res['seconds'] / res['iterations_done']:.2f} s/it); weights cached in {path}")
    return net, ckpt, False


def main(argv: Optional[List[str]] = None) -> Dict:
    ap = argparse.ArgumentParser(prog="python -m torchvision_adapter.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small dataset and short training (about 2 minutes)")
    ap.add_argument("--output", default="demo_output", help="report folder (default: demo_output)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    ap.add_argument("--no-cache", action="store_true", help="regenerate the dataset and retrain")
    ap.add_argument("--max-train-seconds", type=float, default=None,
                    help="stop training after this many seconds (0: no limit; default: the profile's cap)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    p = PROFILES["quick" if args.quick else "default"]
    if args.max_train_seconds is None:
        args.max_train_seconds = p.max_train_seconds
    note = None
    if args.quick and not args.no_cache and _trained(PROFILES["default"], os.path.join(args.output, "cache")):
        # A default run already built everything: the quick run shows the real model instead of a barely
        # trained one, on part of the val split, with the quick run's shorter timings.
        d = PROFILES["default"]
        p = dataclasses.replace(d, throughput_images=p.throughput_images, throughput_rounds=p.throughput_rounds,
                                train_steps_timed=p.train_steps_timed, eval_images=100)
        note = ("quick: the default profile's dataset and trained weights are in the cache; using them "
                "(evaluating on the first 100 val images)")
    torch.set_num_threads(args.threads)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    out = args.output
    cache = os.path.join(out, "cache")
    os.makedirs(cache, exist_ok=True)
    log = _Log()
    progress = not args.no_progress

    log(f"== torchvision_adapter demo ({'quick' if args.quick else 'default'}) ==")
    log(f"torch {torch.__version__}, torchvision {torchvision.__version__}, torchvision_adapter "
        f"{torchvision_adapter.__version__}; {torch.get_num_threads()} threads on {os.cpu_count()} cores; "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    log(f"replaced torchvision kernels: {', '.join(torchvision_adapter.overridden_ops())}")
    if note:
        log(note)
    timings: Dict[str, List[float]] = {}  # stage: [wall s, CPU s of all threads]

    # 1. Data.
    t0, c0 = time.perf_counter(), time.process_time()
    folder = data.build_dataset(cache, p.dataset, progress=progress, log=log)
    timings["dataset"] = [time.perf_counter() - t0, time.process_time() - c0]
    val = data.CocoDetection(folder, "val")

    # 2. Model.
    t0, c0 = time.perf_counter(), time.process_time()
    net, ckpt, cached = _train_or_load(p, folder, cache, args, log)
    timings["training" + (" (cached)" if cached else "")] = [time.perf_counter() - t0, time.process_time() - c0]

    # 3. Evaluation (adapter on).
    t0, c0 = time.perf_counter(), time.process_time()
    indices = list(range(p.eval_images or len(val)))
    outputs = evaluate.predict(net, val, indices, progress=progress, desc="val inference")
    ev = evaluate.coco_evaluate(folder, "val", evaluate.to_coco_results(val, indices, outputs),
                                img_ids=[val.images[i]["id"] for i in indices])
    timings["evaluation"] = [time.perf_counter() - t0, time.process_time() - c0]
    n_eval = len(indices)
    log(f"evaluation ({evaluate.EVALUATOR}), val split, {n_eval} images:")
    for line in ev["summary"].rstrip().splitlines():
        log("  " + line)

    # 4. Adapter off vs on, same weights, same images.
    t0, c0 = time.perf_counter(), time.process_time()
    n_tp = min(p.throughput_images, len(val))
    inf = throughput.inference(net, val, list(range(n_tp)), 4, p.throughput_rounds, progress)
    ds_train = data.CocoDetection(folder, "train")
    trs = throughput.training_steps(net, ds_train, p.training, p.train_steps_timed, progress)
    timings["adapter off/on"] = [time.perf_counter() - t0, time.process_time() - c0]
    same = inf["same"]
    log(f"inference, {n_tp} val images, batch 4: off {inf['images_per_s_off']:.2f} img/s, on "
        f"{inf['images_per_s_on']:.2f} img/s, speedup {inf['speedup']:.2f}x; detections "
        f"{_same_text(same)} ({same['detections']} boxes)")
    log(f"training step, batch {trs['batch_size']}: off {trs['step_s_off'] * 1e3:.0f} ms, on "
        f"{trs['step_s_on'] * 1e3:.0f} ms, speedup {trs['speedup']:.2f}x; max loss difference "
        f"{trs['max_loss_diff']:.3g}")

    # 5. Box operators side by side.
    t0, c0 = time.perf_counter(), time.process_time()
    log("")
    nms_rows = nms_side_by_side.run(args.quick, log=log)
    timings["nms side by side"] = [time.perf_counter() - t0, time.process_time() - c0]
    torch.set_num_threads(args.threads)

    # 6. Report.
    total = time.perf_counter() - t_start
    total_cpu = time.process_time() - cpu_start
    figures = _write_report(out, p, args, log, folder, val, outputs, ckpt, cached, ev, inf, trs, nms_rows,
                            timings, total, n_eval)
    log("")
    log(f"== headline ==")
    log(f"bbox mAP@[.5:.95] = {ev['stats'][0]:.3f}, mAP@.5 = {ev['stats'][1]:.3f} on {n_eval} val images "
        f"({'target 0.5 reached' if ev['stats'][0] >= 0.5 else 'below the 0.5 target'})")
    log(f"adapter on vs off: inference {inf['speedup']:.2f}x, training step {trs['speedup']:.2f}x, "
        f"detections {_same_text(same)}")
    log(f"total {total:.0f} s wall, {total_cpu:.0f} s CPU; report: {os.path.join(out, 'report.md')}")
    if not same["same"] or not all(r["same"] for r in nms_rows):
        raise SystemExit("results differ between torchvision and the adapter")
    return figures


def _same_text(same: Dict) -> str:
    if same["identical"]:
        return "identical"
    if same["same"]:
        return "the same within float32 rounding (max abs diff %.3g)" % same["max_abs_diff"]
    return "DIFFERENT (max abs diff %.3g)" % same["max_abs_diff"]


def _trained(p: Profile, cache: str) -> bool:
    return os.path.exists(os.path.join(cache, f"shapes-{p.dataset.key()}", "DONE")) and os.path.exists(
        _model_path(p, cache))


def _model_path(p: Profile, cache: str) -> str:
    return os.path.join(cache, f"model-{MODEL_VERSION}-{p.dataset.key()}-{p.training.key()}.pt")


def _write_report(out, p, args, log, folder, val, outputs, ckpt, cached, ev, inf, trs, nms_rows, timings,
                  total, n_eval) -> Dict:
    report.plot_loss(ckpt["log"], os.path.join(out, "loss.png"))
    if ev["precision"] is not None:
        report.plot_pr(ev, os.path.join(out, "pr_curve.png"))
    speed_rows = [{"label": "detector inference (val images)", "speedup": inf["speedup"]},
                  {"label": "detector training step", "speedup": trs["speedup"]}]
    speed_rows += [{"label": f"{r['workload']}, {r['threads']} thr", "speedup": r["speedup"]} for r in nms_rows]
    report.plot_speedups(speed_rows, os.path.join(out, "speedups.png"))
    n_draw = min(8, len(val))
    report.draw_detections([val.image(i) for i in range(n_draw)], outputs[:n_draw],
                           os.path.join(out, "detections.png"))
    s = ev["stats"]
    same = inf["same"]
    train_line = (f"reused from the cache (trained {ckpt['iterations_done']} iterations in {ckpt['seconds']:.0f} s)"
                  if cached else f"{ckpt['iterations_done']} iterations in {ckpt['seconds']:.0f} s")
    if ckpt.get("stopped_early"):
        train_line += f" — stopped at the time cap, {p.training.iterations} planned"
    figures = {"bbox_mAP": s[0], "bbox_mAP50": s[1], "bbox_mAP75": s[2], "inference_speedup": inf["speedup"],
               "train_step_speedup": trs["speedup"], "detections_identical": same["identical"],
               "detections_same": same["same"],
               "total_seconds": total, "train_iterations": ckpt["iterations_done"], "train_seconds": ckpt["seconds"],
               "evaluator": evaluate.EVALUATOR}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({**figures, "timings": timings, "coco_stats": s, "inference": {k: v for k, v in inf.items()
                   if k != "outputs_on"}, "training_step": trs, "nms": nms_rows,
                   "dataset": dataclasses.asdict(p.dataset), "training": dataclasses.asdict(p.training)},
                  f, indent=2, default=str)
    nms_table = "\n".join(
        f"| {r['workload']} | {r['threads']} | {r['ms_torchvision']:.2f} | {r['ms_adapter']:.2f} | "
        f"{r['speedup']:.1f}x | {'yes' if r['same'] else 'NO'} |" for r in nms_rows)
    same_text = ("identical (boxes, scores, labels bit for bit)" if same["identical"]
                 else f"the same within float32 rounding (labels equal, max abs diff {same['max_abs_diff']:.3g})"
                 if same["same"] else f"different, max abs diff {same['max_abs_diff']:.3g}")
    time_table = "\n".join(f"| {k} | {w:.1f} | {c:.1f} |" for k, (w, c) in timings.items())
    report.write_markdown(os.path.join(out, "report.md"), [
        f"# torchvision_adapter demo report ({'quick' if args.quick else 'default'} profile)",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, torchvision_adapter "
        f"{torchvision_adapter.__version__}, Python {platform.python_version()}, {args.threads} threads on "
        f"{os.cpu_count()} cores (load average at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}). Replaced torchvision kernels: "
        f"{', '.join(torchvision_adapter.overridden_ops())}.",
        "## Headline\n"
        f"- **bbox mAP@[.5:.95] = {s[0]:.3f}**, mAP@.5 = {s[1]:.3f}, mAP@.75 = {s[2]:.3f} on the val split "
        f"({n_eval} images), {'reaching' if s[0] >= 0.5 else 'below'} the 0.5 target.\n"
        f"- Adapter on vs off, same weights and images: inference {inf['speedup']:.2f}x, training step "
        f"{trs['speedup']:.2f}x; detections **{_same_text(same)}**.\n"
        f"- Total wall time {total:.0f} s.",
        "## Data\n"
        f"Synthetic COCO-format dataset in `{folder}`: {p.dataset.train_images} train and "
        f"{p.dataset.val_images} val images of {p.dataset.image_size}x{p.dataset.image_size} px, "
        f"{p.dataset.min_objects}-{p.dataset.max_objects} objects per image of "
        f"{len(data.CATEGORIES)} categories ({', '.join(n for n, _ in data.CATEGORIES)}), "
        f"{p.dataset.min_object_size}-{p.dataset.max_object_size} px, varied shade and rotation, pasted with "
        f"occlusion (each object keeps at least {1 - p.dataset.max_hidden_fraction:.0%} visible) on crops of the "
        f"photos of `mate-backgrounds` and `skimage.data`. Annotations: `annotations/instances_train.json`, "
        f"`instances_val.json` (RLE masks of the visible part, bbox [x, y, w, h], area, iscrowd). "
        f"Seed {p.dataset.seed}.",
        "## Model and training\n"
        "torchvision's `FasterRCNN` on a small ResNet-like backbone (strides 4-32, BatchNorm) with an FPN "
        "(48 channels, levels at strides 8-64), anchors 16-192 px, 3 aspect ratios; `MultiScaleRoIAlign` 7x7; "
        "a 256-wide two-layer box head. Weights start from torchvision's initialisation with a fixed seed; "
        f"nothing is downloaded. SGD (momentum {p.training.momentum}, weight decay {p.training.weight_decay}), "
        f"lr {p.training.lr} with {p.training.warmup} warm-up iterations and cosine decay, batch "
        f"{p.training.batch_size}, horizontal flips; adapter on. Training: {train_line}.\n\n"
        "![loss](loss.png)",
        f"## COCO evaluation (bbox)\nEvaluator: `{evaluate.EVALUATOR}`.\n\n```\n{ev['summary'].rstrip()}\n```\n\n"
        "![pr](pr_curve.png)\n\nDetections (score >= 0.5) on the first val images:\n\n![detections](detections.png)",
        "## Adapter off vs on (same process, same weights, same images)\n"
        "| measurement | adapter off | adapter on | speedup |\n|---|---|---|---|\n"
        f"| inference, {inf['images']} val images, batch {inf['batch_size']} (img/s) | "
        f"{inf['images_per_s_off']:.2f} | {inf['images_per_s_on']:.2f} | {inf['speedup']:.2f}x |\n"
        f"| training step, batch {trs['batch_size']} (median ms of {trs['steps']}) | {trs['step_s_off'] * 1e3:.0f} | "
        f"{trs['step_s_on'] * 1e3:.0f} | {trs['speedup']:.2f}x |\n\n"
        f"Detections with the adapter off and on: {same_text}"
        f" over {same['detections']} boxes. Training losses off vs on differ by at most {trs['max_loss_diff']:.3g}.\n\n"
        "![speedups](speedups.png)",
        "## Box operators side by side\n| workload | threads | torchvision ms | adapter ms | speedup | same |\n"
        f"|---|---|---|---|---|---|\n{nms_table}",
        "## Time per stage\nWall time depends on the machine's load; CPU time (all threads of this process) "
        "depends on it much less.\n\n"
        f"| stage | wall s | CPU s |\n|---|---|---|\n{time_table}",
        "## Terminal log\n```\n" + "\n".join(log.lines) + "\n```",
    ])
    return figures

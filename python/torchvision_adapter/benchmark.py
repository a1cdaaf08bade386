"""Benchmark a model on the CPU the way the C++ runner (``tva_runner``) does, from Python.

    python -m torchvision_adapter.benchmark \\
        --model torchvision.models.detection.retinanet_resnet50_fpn --model-kwargs '{"min_size": 512}' \\
        --input-shape 3,512,512 --threads 2 --loop 5 --compare

``--model`` is a TorchScript file or the dotted name of a callable that builds an eager model (torchvision's
model builders are called with ``weights=None, weights_backbone=None`` unless --model-kwargs says otherwise,
so nothing is downloaded). Inputs, timing statistics, the table and ``summary.json`` are those of
``tva_runner``; ``--compare`` runs with the adapter off (torchvision's own kernels) and then on, prints both
and the ratio, and checks that both runs gave the same outputs.
"""
import argparse
import importlib
import inspect
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

import torchvision_adapter

_IMAGE_EXTS = (".jpg", ".jpeg", ".png")
_DTYPES = {
    "float32": torch.float32, "float": torch.float32, "fp32": torch.float32,
    "float64": torch.float64, "float16": torch.float16, "half": torch.float16, "fp16": torch.float16,
    "bfloat16": torch.bfloat16, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16,
    "int32": torch.int32, "int64": torch.int64, "bool": torch.bool,
}


class BenchmarkError(Exception):
    """A problem with the arguments or the inputs, reported without a traceback."""


# ----------------------------------------------------------------------------------------------
# Models


def load_model(spec: str, kwargs: Optional[dict] = None) -> torch.nn.Module:
    """A TorchScript file, or ``package.module.callable`` called with ``kwargs`` (eval mode)."""
    kwargs = dict(kwargs or {})
    if os.path.sep in spec or spec.endswith((".pt", ".pth", ".ts", ".torchscript")):
        if not os.path.isfile(spec):
            raise BenchmarkError(f"model '{spec}' does not exist or is not a file")
        try:
            model = torch.jit.load(spec, map_location="cpu")
        except Exception as e:  # noqa: BLE001 (torch raises RuntimeError or ValueError)
            raise BenchmarkError(f"cannot load model '{spec}': {str(e).splitlines()[0]}") from None
        return model.eval()
    module_name, _, attr = spec.rpartition(".")
    try:
        builder = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        raise BenchmarkError(f"model '{spec}' is neither a file nor an importable callable") from None
    params = inspect.signature(builder).parameters
    for name in ("weights", "weights_backbone"):
        if name in params and name not in kwargs:
            kwargs[name] = None
    try:
        model = builder(**kwargs)
    except TypeError as e:
        raise BenchmarkError(f"cannot build model '{spec}' with {kwargs}: {e}") from None
    return model.eval()


def takes_list(model: torch.nn.Module) -> bool:
    """Whether forward() takes a list of images (torchvision's detection models) or a batch tensor."""
    if isinstance(model, torch.jit.ScriptModule):
        args = model.forward.schema.arguments
        return len(args) > 1 and str(args[1].type) == "List[Tensor]"
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    return isinstance(getattr(model, "transform", None), GeneralizedRCNNTransform)


# ----------------------------------------------------------------------------------------------
# Inputs (the same rules as tva_runner)


def parse_list(text: Optional[str], option: str, kind=int) -> List:
    if not text:
        return []
    items = [t for t in text.replace("x", ",").replace(" ", ",").split(",") if t]
    try:
        return [kind(float(t)) for t in items]
    except ValueError:
        raise BenchmarkError(f"--{option}: '{text}' is not a list of numbers") from None


def list_inputs(path: str) -> List[str]:
    if not os.path.exists(path):
        raise BenchmarkError(f"input '{path}' does not exist")
    if not os.path.isdir(path):
        return [path]
    files = sorted(
        os.path.join(path, f) for f in os.listdir(path)
        if f.lower().endswith((".bin", ".npy") + _IMAGE_EXTS) and os.path.isfile(os.path.join(path, f))
    )
    if not files:
        raise BenchmarkError(f"input folder '{path}' holds no .bin, .npy, .jpg, .jpeg or .png file")
    return files


def decode_image(path: str) -> torch.Tensor:
    """uint8 RGB [3, H, W]."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except Exception as e:  # noqa: BLE001 (PIL raises many types)
        raise BenchmarkError(f"cannot decode image '{path}': {e}") from None
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()


def preprocess_image(rgb: torch.Tensor, resize=(), mean=(), std=(), keep_uint8=False, bgr=False):
    """tva_runner's image preprocessing: channel swap, [0, 1] float, bilinear resize, normalize."""
    x = rgb.flip(0) if bgr else rgb
    if not keep_uint8:
        x = x.to(torch.float32).div_(255.0)
    if resize:
        to_byte = x.dtype == torch.uint8
        f = torch.nn.functional.interpolate(x.float()[None], size=tuple(resize), mode="bilinear",
                                            align_corners=False)[0]
        x = f.round().clamp(0, 255).to(torch.uint8) if to_byte else f
    c = x.shape[0]
    for values, what in ((mean, "mean"), (std, "std")):
        if values and len(values) != c:
            raise BenchmarkError(f"--{what} needs {c} values (one per channel), got {len(values)}")
    if mean:
        x = x.float() - torch.tensor(mean, dtype=torch.float64).float().view(c, 1, 1)
    if std:
        x = x.float() / torch.tensor(std, dtype=torch.float64).float().view(c, 1, 1)
    return x.contiguous()


def load_sample(path: str, args) -> torch.Tensor:
    shape = parse_list(args.input_shape, "input-shape")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            t = torch.from_numpy(np.load(path, allow_pickle=False).copy())
            if shape and list(t.shape) != shape:
                raise BenchmarkError(f"'{path}' has shape {list(t.shape)}, but --input-shape is {shape}")
            if args.dtype and t.dtype != _dtype(args.dtype):
                raise BenchmarkError(f"'{path}' holds {t.dtype}, but --dtype is {args.dtype}")
            return t
        if ext == ".bin":
            if not shape:
                raise BenchmarkError(f"'{path}' is raw data: --input-shape (and --dtype) must say what it holds")
            dtype = _dtype(args.dtype or "float32")
            data = open(path, "rb").read()
            need = int(np.prod(shape)) * torch.empty((), dtype=dtype).element_size()
            if len(data) != need:
                raise BenchmarkError(f"'{path}' has {len(data)} bytes, but --input-shape {shape} of "
                                     f"{dtype} needs {need}")
            return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
    except (OSError, ValueError) as e:
        raise BenchmarkError(f"cannot read '{path}': {e}") from None
    if ext in _IMAGE_EXTS:
        t = preprocess_image(decode_image(path), parse_list(args.resize, "resize"),
                             parse_list(args.mean, "mean", float), parse_list(args.std, "std", float),
                             args.keep_uint8, args.bgr)
        if shape and list(t.shape) != shape:
            raise BenchmarkError(f"image '{path}' preprocesses to shape {list(t.shape)}, but "
                                 f"--input-shape is {shape} (use --resize)")
        return t
    raise BenchmarkError(f"'{path}': unsupported input type (expected .bin, .npy, .jpg, .jpeg or .png)")


def _dtype(name: str) -> torch.dtype:
    if name not in _DTYPES:
        raise BenchmarkError(f"unknown dtype '{name}' (expected one of {', '.join(sorted(_DTYPES))})")
    return _DTYPES[name]


def synthetic_sample(shape: Sequence[int], dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    if dtype.is_floating_point:
        return torch.rand(shape, generator=gen).to(dtype)
    high = 2 if dtype == torch.bool else 256 if dtype == torch.uint8 else 100
    return torch.randint(0, high, shape, generator=gen, dtype=dtype)


# ----------------------------------------------------------------------------------------------
# Outputs


def flatten_outputs(value, batch: int, list_input: bool) -> List[Tuple[str, int, torch.Tensor]]:
    """(name, image index or -1, tensor) for every tensor in the output, named as tva_runner does."""
    out: List[Tuple[str, int, torch.Tensor]] = []

    def join(prefix, part):
        return f"{prefix}_{part}" if prefix else str(part)

    def add(name, image, t):
        name = name or "0"
        if image < 0 and not list_input and t.dim() > 0 and t.shape[0] == batch:
            out.extend((name, i, t[i:i + 1]) for i in range(batch))
        else:
            out.append((name, image, t))

    def visit(v, name, image):
        if isinstance(v, torch.Tensor):
            add(name, image, v)
        elif isinstance(v, tuple):
            for i, e in enumerate(v):
                visit(e, join(name, i), image)
        elif isinstance(v, list):
            per_image = list_input and image < 0 and len(v) == batch
            for i, e in enumerate(v):
                visit(e, name, i) if per_image else visit(e, join(name, i), image)
        elif isinstance(v, dict):
            for k, e in v.items():
                visit(e, join(name, k), image)
        elif isinstance(v, bool):
            add(name, image, torch.tensor(v))
        elif isinstance(v, int):
            add(name, image, torch.tensor(v, dtype=torch.int64))
        elif isinstance(v, float):
            add(name, image, torch.tensor(v, dtype=torch.float64))

    visit(value, "", -1)
    return out


def _save_npy(path: str, t: torch.Tensor) -> None:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.save(f, t.contiguous().numpy())
    os.replace(tmp, path)


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Statistics and report


def time_stats(ms: Sequence[float]) -> Dict[str, Optional[float]]:
    keys = ("min", "max", "mean", "median", "percentile(99%)")
    if not len(ms):
        return dict.fromkeys(keys)
    a = np.asarray(ms, dtype=np.float64)
    return dict(zip(keys, (float(a.min()), float(a.max()), float(a.mean()), float(np.median(a)),
                           float(np.percentile(a, 99)))))


def format_table(s: dict) -> str:
    lines = [
        f"model {s.get('model', '?')}  |  batch {s.get('batch_size', 0)}  |  {s.get('threads', 0)} "
        f"thread(s)  |  adapter {s.get('adapter', '?')}",
        f"{s.get('batches', 0)} batch(es), {s.get('images', 0)} image(s), {s.get('warmup', 0)} warm-up "
        f"run(s), loop {s.get('loop', 0)}",
        f"{'time (ms)':<14}{'min':>10}{'max':>10}{'mean':>10}{'median':>10}{'p99':>10}",
    ]
    for key in ("compute_time", "preprocess_time", "postprocess_time"):
        if key not in s:
            continue
        cells = "".join(f"{s[key][k]:>10.3f}" if s[key].get(k) is not None else f"{'-':>10}"
                        for k in ("min", "max", "mean", "median", "percentile(99%)"))
        lines.append(f"{key[:-5]:<14}{cells}")
    if s.get("throughput") is not None:
        lines.append(f"throughput    {s['throughput']:.3f} images/s  (1000 x batch / mean compute time)")
    return "\n".join(lines) + "\n"


def _progress(total: int, enabled: bool, label: str):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, file=sys.stderr, leave=True)


# ----------------------------------------------------------------------------------------------
# The run


def run(args, adapter: str, model: Optional[torch.nn.Module] = None, keep_outputs: bool = False):
    """One benchmark run with the adapter on or off (restored afterwards); returns (summary, the
    flattened outputs of the first batch if keep_outputs, the model)."""
    was = torchvision_adapter.is_enabled()
    try:
        return _run(args, adapter, model, keep_outputs)
    finally:
        (torchvision_adapter.enable if was else torchvision_adapter.disable)()


def _run(args, adapter: str, model: Optional[torch.nn.Module], keep_outputs: bool):
    if args.batch_size < 1:
        raise BenchmarkError("--batch-size must be at least 1")
    if args.loop < 1:
        raise BenchmarkError("--loop must be at least 1")
    if args.warmup < 0:
        raise BenchmarkError("--warmup must not be negative")
    shape = parse_list(args.input_shape, "input-shape")
    files = list_inputs(args.input) if args.input else []
    if not files and not shape:
        raise BenchmarkError("give --input (a folder or file) or --input-shape for random inputs")
    if adapter == "on":
        torchvision_adapter.enable()
    else:
        torchvision_adapter.disable()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if model is None:
        model = load_model(args.model, json.loads(args.model_kwargs) if args.model_kwargs else None)
    list_input = takes_list(model)

    groups = [files[i:i + args.batch_size] for i in range(0, len(files), args.batch_size)]
    synthetic = not files
    gen = torch.Generator().manual_seed(args.seed)

    def build(g):
        if synthetic:
            dtype = _dtype(args.dtype or "float32")
            samples = [synthetic_sample(shape, dtype, gen) for _ in range(args.batch_size)]
            names = [f"synthetic{i}" for i in range(args.batch_size)]
            origins = names
        else:
            samples = [load_sample(f, args) for f in groups[g]]
            names = [os.path.splitext(os.path.basename(f))[0] for f in groups[g]]
            origins = groups[g]
        if list_input:
            return samples, names, len(samples)
        for s, o in zip(samples[1:], origins[1:]):
            if s.shape != samples[0].shape or s.dtype != samples[0].dtype:
                raise BenchmarkError(
                    f"samples of one batch must have the same shape and dtype: '{origins[0]}' is "
                    f"{list(samples[0].shape)} {samples[0].dtype}, '{o}' is {list(s.shape)} {s.dtype} "
                    "(use --resize, or --batch-size 1)")
        stacked = torch.cat(samples) if args.batched_files else torch.stack(samples)
        if args.batched_files and stacked.shape[0] != len(samples):
            names = [f"sample{i}" for i in range(stacked.shape[0])]
        return stacked, names, stacked.shape[0]

    def forward(x, where):
        try:
            return model(x)
        except Exception as e:  # noqa: BLE001 (the model may raise anything)
            raise BenchmarkError(f"the model failed on {where}: {str(e).strip()}") from None

    fixed = build(0) if synthetic else None
    with torch.inference_mode():
        first = fixed or build(0)
        for _ in range(args.warmup):
            forward(first[0], "warm-up")

        outputs_dir = os.path.join(args.output, "outputs")
        staging = os.path.join(args.output, f".outputs.partial-{os.getpid()}")
        os.makedirs(args.output, exist_ok=True)
        if args.save_outputs:
            os.makedirs(staging, exist_ok=True)
        per_loop = 1 if synthetic else len(groups)
        bar = _progress(per_loop * args.loop, args.progress or sys.stderr.isatty(),
                        f"benchmark (adapter {adapter})")
        compute_ms, pre_ms, post_ms, images, kept = [], [], [], 0, None
        try:
            for loop in range(args.loop):
                for g in range(per_loop):
                    t0 = time.perf_counter()
                    x, names, n = fixed or build(g)
                    t1 = time.perf_counter()
                    result = forward(x, "random input" if synthetic else f"batch starting with '{groups[g][0]}'")
                    t2 = time.perf_counter()
                    flat = [(k, i, t.contiguous()) for k, i, t in flatten_outputs(result, n, list_input)]
                    if args.save_outputs and loop == 0:
                        for k, i, t in flat:
                            owner = names[i] if 0 <= i < len(names) else f"batch{g}"
                            _save_npy(os.path.join(staging, f"{owner}_{k}.npy".replace("/", "_")), t)
                    t3 = time.perf_counter()
                    if keep_outputs and kept is None:
                        kept = flat
                    pre_ms.append((t1 - t0) * 1e3)
                    compute_ms.append((t2 - t1) * 1e3)
                    post_ms.append((t3 - t2) * 1e3)
                    images += n
                    if bar is not None:
                        bar.update(1)
            if args.save_outputs:
                import shutil

                shutil.rmtree(outputs_dir, ignore_errors=True)
                os.replace(staging, outputs_dir)
        finally:
            if bar is not None:
                bar.close()
            if os.path.isdir(staging):
                import shutil

                shutil.rmtree(staging, ignore_errors=True)

    import torchvision

    compute = time_stats(compute_ms)
    summary = {
        "tool": "torchvision_adapter.benchmark",
        "model": args.model,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "adapter": adapter,
        "kernels": "adapter" if adapter == "on" else "torchvision",
        "input": f"random {shape}" if synthetic else args.input,
        "warmup": args.warmup,
        "loop": args.loop,
        "batches": len(compute_ms),
        "images": images,
        "compute_time": compute,
        "preprocess_time": time_stats(pre_ms),
        "postprocess_time": time_stats(post_ms),
        "throughput": 1000.0 * args.batch_size / compute["mean"],
        "ais_bench_fields": {"NPU_compute_time": "compute_time", "H2D_latency": "preprocess_time",
                             "D2H_latency": "postprocess_time"},
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "torchvision_adapter": torchvision_adapter.__version__},
    }
    if args.save_outputs:
        summary["outputs"] = outputs_dir
    return summary, kept, model


def outputs_match(a, b, rtol=1e-5, atol=1e-5) -> Tuple[bool, float]:
    """Whether two flattened outputs agree (same names, shapes, dtypes; values within tolerance)."""
    if a is None or b is None or len(a) != len(b):
        return False, float("inf")
    worst = 0.0
    for (ka, ia, ta), (kb, ib, tb) in zip(a, b):
        if ka != kb or ia != ib or ta.shape != tb.shape or ta.dtype != tb.dtype:
            return False, float("inf")
        if ta.numel():
            if ta.is_floating_point():
                worst = max(worst, float((ta.double() - tb.double()).abs().max()))
                if not torch.allclose(ta, tb, rtol=rtol, atol=atol):
                    return False, worst
            elif not torch.equal(ta, tb):
                return False, float("inf")
    return True, worst


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m torchvision_adapter.benchmark",
        description="Runs a model over a folder of inputs on the CPU and reports timing statistics "
                    "(summary.json), like the C++ tva_runner.")
    p.add_argument("-m", "--model", required=True,
                   help="TorchScript file, or dotted name of a model builder (e.g. "
                        "torchvision.models.detection.retinanet_resnet50_fpn)")
    p.add_argument("--model-kwargs", help="JSON object of keyword arguments for the builder")
    p.add_argument("-i", "--input", help="folder (or file) of .bin, .npy, .jpg/.jpeg/.png inputs; random if absent")
    p.add_argument("--input-shape", help="one sample's shape without the batch dimension, e.g. 3,224,224")
    p.add_argument("--dtype", help="dtype of .bin and random inputs (default float32)")
    p.add_argument("-b", "--batch-size", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs on the first batch")
    p.add_argument("--loop", type=int, default=1, help="passes over the inputs")
    p.add_argument("-t", "--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    p.add_argument("-o", "--output", default=".", help="folder for summary.json and outputs/")
    p.add_argument("--summary", help="path of the summary (default OUTPUT/summary.json)")
    p.add_argument("--save-outputs", action="store_true")
    p.add_argument("--resize", help="images: HEIGHT,WIDTH (bilinear)")
    p.add_argument("--mean", help="images: per-channel mean, after scaling to [0, 1]")
    p.add_argument("--std", help="images: per-channel std")
    p.add_argument("--keep-uint8", action="store_true")
    p.add_argument("--bgr", action="store_true")
    p.add_argument("--batched-files", action="store_true",
                   help="input files already carry a batch dimension: concatenate instead of stacking")
    p.add_argument("--adapter", choices=("on", "off"), default="on")
    p.add_argument("--compare", action="store_true",
                   help="run with the adapter off, then on; print both and the throughput ratio")
    p.add_argument("--progress", action="store_true", help="progress bar even when stderr is not a terminal")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not args.compare:
            summary, _, _ = run(args, args.adapter)
            path = args.summary or os.path.join(args.output, "summary.json")
            _write_text(path, json.dumps(summary, indent=2) + "\n")
            print(format_table(summary) + f"summary: {path}")
            return 0
        off, out_off, model = run(args, "off", keep_outputs=True)
        on, out_on, _ = run(args, "on", model=model, keep_outputs=True)
        same, worst = outputs_match(out_off, out_on)
        compare = {
            "adapter_off": off,
            "adapter_on": on,
            "throughput_ratio": on["throughput"] / off["throughput"],
            "compute_mean_ratio": off["compute_time"]["mean"] / on["compute_time"]["mean"],
            "outputs_equal": same,
            "max_abs_diff": worst,
        }
        path = args.summary or os.path.join(args.output, "summary.json")
        _write_text(path, json.dumps(compare, indent=2) + "\n")
        print(format_table(off))
        print(format_table(on))
        print(f"adapter on / off: throughput x{compare['throughput_ratio']:.3f}, outputs "
              f"{'equal' if same else 'DIFFER'} (max abs diff {worst:.3g})\nsummary: {path}")
        return 0
    except BenchmarkError as e:
        print(f"torchvision_adapter.benchmark: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"torchvision_adapter.benchmark: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

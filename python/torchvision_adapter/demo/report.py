"""The report folder: Markdown summary, PNG plots and images with the detections drawn."""
import os
from typing import Dict, List

import numpy as np
from PIL import Image, ImageDraw

from .data import CATEGORIES

_BOX_COLOURS = ["#ff00ff", "#00ffff", "#ff8800", "#ffffff"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss(log: List[Dict[str, float]], path: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    it = np.arange(1, len(log) + 1)
    k = max(1, len(log) // 50)
    for key in ("loss", "loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"):
        if log and key in log[0]:
            v = np.array([r[key] for r in log])
            smooth = np.convolve(v, np.ones(k) / k, mode="valid")
            ax.plot(it[k - 1:], smooth, label=key, lw=2 if key == "loss" else 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"loss (moving average of {k})")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Training loss (adapter on)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pr(ev: Dict, path: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    prec = ev["precision"]  # [T, R, K, A, M]
    rec = ev["recall_thresholds"]
    for t, ls in ((0, "-"), (5, "--")):
        for k, name in enumerate(ev["categories"]):
            p = prec[t, :, k, 0, -1]
            ax.plot(rec, np.where(p < 0, np.nan, p), ls, color=f"C{k}", label=f"{name} @IoU={0.5 + 0.05 * t:.2f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Precision-recall on the val split (bbox)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_speedups(rows: List[Dict], path: str) -> None:
    """rows: {"label", "speedup"}; a bar per row, 1.0 marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))
    sp = [r["speedup"] for r in rows]
    ax.barh(y, sp, color=["#4c72b0" if s >= 1 else "#c44e52" for s in sp])
    ax.axvline(1.0, color="k", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels([r["label"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    for yi, s in zip(y, sp):
        ax.text(s, yi, f" {s:.2f}x", va="center", fontsize=8)
    ax.set_xlabel("speedup, adapter on vs off (torchvision's kernels)")
    ax.set_xscale("log")
    ax.set_xlim(min(0.5, min(sp) / 1.5), max(2.0, max(sp) * 2))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_detections(images, outputs, path: str, score_thresh: float = 0.5, cols: int = 4) -> None:
    tiles = []
    for img, out in zip(images, outputs):
        im = Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        d = ImageDraw.Draw(im)
        for box, score, label in zip(out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist()):
            if score < score_thresh:
                continue
            c = _BOX_COLOURS[(label - 1) % len(_BOX_COLOURS)]
            d.rectangle(box, outline=c, width=2)
            d.text((box[0] + 2, box[1] + 1), f"{CATEGORIES[label - 1][0]} {score:.2f}", fill=c)
        tiles.append(im)
    w, h = tiles[0].size
    rows = (len(tiles) + cols - 1) // cols
    grid = Image.new("RGB", (cols * w, rows * h), "black")
    for i, t in enumerate(tiles):
        grid.paste(t, ((i % cols) * w, (i // cols) * h))
    grid.save(path)


def write_markdown(path: str, sections: List[str]) -> None:
    with open(path, "w") as f:
        f.write("\n\n".join(s.strip("\n") for s in sections) + "\n")

"""Side-by-side timing of torchvision and the adapter in one process.

A benchmark *case* names a piece of work and two or more *variants* of it: the first is the baseline
(usually torchvision with the adapter disabled), the others are compared to it (usually the same code
with the adapter enabled; image cases add peers such as PIL or OpenCV). Variants run interleaved,
round after round, so drifts in machine speed hit all of them alike; the median round is reported.
"""
import contextlib
import time
from dataclasses import dataclass, field
from statistics import median
from typing import Callable, List, Optional

import torchvision_adapter


@dataclass
class Variant:
    label: str
    fn: Callable[[], object]
    adapter: Optional[bool] = None  # True/False: switch the adapter on/off around fn; None: leave it


@dataclass
class Case:
    group: str  # e.g. "nms", "roi_align", "decode"
    name: str  # what is measured, with its sizes
    variants: List[Variant]
    rounds: int = 5  # timed rounds per variant
    inner: int = 1  # calls per round (for very short work)
    # Untimed calls of each variant at the start of its every round, after switching to it: the
    # switch and the other variants' calls leave this variant's buffers out of cache, which a loop
    # of the same call does not see (for sub-millisecond, memory-bound work it is a large part).
    warm: int = 0
    check: Optional[Callable[[], None]] = None  # verifies the variants agree (outside the timing)
    unit: str = "ms"  # per call
    items: Optional[int] = None  # items per call, to report a rate (e.g. images)
    results: dict = field(default_factory=dict)


def tv_vs_adapter(group, name, fn, **kw) -> Case:
    """The common case: the same callable with the adapter disabled (baseline) and enabled."""
    return Case(group, name, [Variant("torchvision", fn, False), Variant("adapter", fn, True)], **kw)


@contextlib.contextmanager
def _state(v: Variant):
    """Switches the adapter as the variant asks, outside any timing: switching re-registers
    dispatcher kernels, which costs more than many of the calls measured."""
    if v.adapter is None:
        yield
        return
    was = torchvision_adapter.is_enabled()
    (torchvision_adapter.enable if v.adapter else torchvision_adapter.disable)()
    try:
        yield
    finally:
        (torchvision_adapter.enable if was else torchvision_adapter.disable)()


def _call(v: Variant):
    with _state(v):
        return v.fn()


def run_case(case: Case) -> dict:
    if case.check is not None:
        case.check()
    for v in case.variants:  # warm-up
        _call(v)
    times = {v.label: [] for v in case.variants}
    for _ in range(case.rounds):
        for v in case.variants:
            with _state(v):
                for _ in range(case.warm):
                    v.fn()
                t0 = time.perf_counter()
                for _ in range(case.inner):
                    v.fn()
                times[v.label].append((time.perf_counter() - t0) / case.inner * 1e3)
    return {label: median(ts) for label, ts in times.items()}

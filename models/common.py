"""Helpers shared by CarePath's training scripts: seeds, ONNX export with the
serving spec embedded as metadata, bootstrap confidence intervals, parity
fixtures and model card rendering.

The Go inference package reads the spec back from the ONNX file's metadata
(key "carepath.spec"), so one committed file carries the weights, the input
schema, the preprocessing, the thresholds and the card's key facts.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
FIXTURES = HERE / "fixtures"
CARDS = HERE / "cards"

SPEC_KEY = "carepath.spec"
# Opsets that ONNX Runtime 1.24 (the library Go loads) runs.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}

DISCLAIMER = (
    "This model supports clinicians; it does not replace their judgement. "
    "Its output is one input to a care pathway, reviewed by a clinician."
)


def seed_everything(seed: int) -> np.random.Generator:
    """Fixes every source of randomness the scripts use."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return np.random.default_rng(seed)


def attach_spec(model: onnx.ModelProto, spec: dict) -> onnx.ModelProto:
    """Embeds the serving spec in the ONNX metadata and names the graph."""
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key = SPEC_KEY
    entry.value = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    model.producer_name = "carepath-models"
    model.doc_string = spec["description"]
    model.graph.name = spec["name"]
    # skl2onnx and merge_models leave random IDs in the graph's doc string
    # and may repeat opset imports; both would make retraining produce
    # different bytes from the same weights.
    model.graph.doc_string = spec["description"]
    opsets = {}
    for o in model.opset_import:
        opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    del model.opset_import[:]
    for domain, version in sorted(opsets.items()):
        model.opset_import.add(domain=domain, version=version)
    onnx.checker.check_model(model)
    return model


def save_model(model: onnx.ModelProto, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def session(path: Path, intra_op_threads: int = 1) -> ort.InferenceSession:
    """A session with the same settings the Go registry uses, so parity and
    benchmark figures compare like with like."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def f32_list(a: np.ndarray) -> list:
    """Float32 values as JSON numbers that round-trip exactly to float32."""
    return [[float(v) for v in row] for row in np.asarray(a, dtype=np.float32)]


def write_fixture(name: str, fixture: dict) -> Path:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / f"{name}.json"
    path.write_text(json.dumps(fixture, indent=None, separators=(",", ":")) + "\n")
    return path


def bootstrap_ci(metric, *arrays, n: int = 1000, seed: int = 7, alpha: float = 0.05):
    """Percentile bootstrap CI of metric(*arrays) over resampled rows.

    Resamples where the metric is undefined (for example a single class for
    AUROC) are dropped; the count kept is returned so the card can say so."""
    rng = np.random.default_rng(seed)
    rows = len(arrays[0])
    values = []
    for _ in range(n):
        idx = rng.integers(0, rows, rows)
        try:
            v = metric(*(a[idx] for a in arrays))
        except ValueError:
            continue
        if v is not None and np.isfinite(v):
            values.append(v)
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(metric(*arrays)), float(lo), float(hi), len(values)


def wilson(successes: int, total: int, z: float = 1.959964):
    """Wilson score interval for a proportion; (nan, nan, nan) when total is 0."""
    if total == 0:
        return float("nan"), float("nan"), float("nan")
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def fmt_ci(est, lo, hi, digits: int = 3) -> str:
    return f"{est:.{digits}f} (95% CI {lo:.{digits}f}–{hi:.{digits}f})"

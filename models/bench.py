"""Python side of the model benchmark (`make bench-models`).

The Go program inference/bench runs this in the same run, on the same
machine, with the same ONNX file and the same rows, and prints both sides
with their ratio. Each round answers three questions:

- single rows: InferenceSession.run on a ready one-row array, with one
  intra-op thread (the settings of the Go registry's per-call session);
- a batch, the runtime call alone: run on a ready array, on a session with
  as many intra-op threads as Go's GOMAXPROCS (Go's batch session);
- a batch, the whole job Go's Model.Predict does (Job below): inputs as
  JSON decoding gives them, each value converted and checked, the tensor
  built, the same session run, one result per input.

It answers one timed round per request (see main), in JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np

import common


class InputError(ValueError):
    """An input the model must not score."""


class Job:
    """What Go's Model.Predict does, written as a Python service would write
    it: inputs are dicts (as json.loads gives them), values are converted to
    the declared unit and range-checked, the tensor is built, the session
    runs, and each input gets its probabilities, label, risk level or anomaly
    kind, and warnings. The checks and the post-processing are numpy
    (vectorised); only reading the dicts loops in Python."""

    def __init__(self, sess, spec: dict):
        self.sess, self.spec = sess, spec
        self.window = spec.get("window")
        self.fields = self.window["channels"] if self.window else spec["features"]
        self.names = [f["name"] for f in self.fields]
        self.scales = [{"": 1.0, f["unit"]: 1.0, **{u["unit"]: u["scale"] for u in f.get("units", [])}}
                       for f in self.fields]
        shape = (-1, 1) if self.window else (-1,)
        col = lambda key, default: np.array([f.get(key, default) for f in self.fields], dtype=np.float64).reshape(shape)
        self.lo, self.hi = col("min", None), col("max", None)
        self.train_lo, self.train_hi = col("train_min", -np.inf), col("train_max", np.inf)
        self.allowed = [(j, np.array(f["allowed"], dtype=np.float64)) for j, f in enumerate(self.fields) if f.get("allowed")]
        self.classes = np.array(spec["classes"])
        self.post = spec["postprocess"]

    def encode(self, inputs: list) -> np.ndarray:
        """The inputs as an array in the declared units. Values are read in
        one list comprehension per input; the rare value sent in another
        unit is scaled afterwards."""
        width, rows, scaled = len(self.names), [], []
        key = "values" if self.window else "value"
        for i, inp in enumerate(inputs):
            fields = inp["channels" if self.window else "features"]
            if len(fields) != width:
                raise InputError(f"input {i}: {sorted(fields)}, want {self.names}")
            qs = list(map(fields.__getitem__, self.names))
            rows.append([q[key] for q in qs])
            if sum(map(len, qs)) != width:  # some value names its unit
                scaled += [(i, j, self.scales[j][q["unit"]]) for j, q in enumerate(qs) if "unit" in q]
        try:
            x = np.array(rows, dtype=np.float64)
        except ValueError:
            raise InputError(f"every channel needs {self.window['length']} readings") from None
        if self.window and x.shape[1:] != (width, self.window["length"]):
            raise InputError(f"every channel needs {self.window['length']} readings")
        for i, j, scale in scaled:
            x[i, j] *= scale
        return x

    def predict(self, inputs: list) -> list:
        try:
            x = self.encode(inputs)
        except KeyError as e:
            raise InputError(f"missing or unknown: {e}") from None
        bad = ~np.isfinite(x) | (x < self.lo) | (x > self.hi)
        for j, allowed in self.allowed:
            bad[:, j] |= ~np.isin(x[:, j], allowed)
        if bad.any():
            rows = np.nonzero(bad.reshape(len(x), -1).any(axis=1))[0]
            raise InputError(f"implausible values in inputs {rows.tolist()}")
        outside = (x < self.train_lo) | (x > self.train_hi)
        if self.window:
            outside = outside.any(axis=2)
        warnings = [[] for _ in inputs]
        for i, j in zip(*np.nonzero(outside)):
            warnings[i].append(f"{self.names[j]} is outside the training range; the score is an extrapolation")
        onnx = self.spec["onnx"]
        probs = self.sess.run([onnx["output"]], {onnx["input"]: x.astype(np.float32)})[0].astype(np.float64)
        if np.isnan(probs).any() or (probs < -1e-6).any() or (probs > 1 + 1e-6).any():
            raise RuntimeError("the model's output is not a probability")
        labels = self.classes[probs.argmax(axis=1)].tolist()
        classes = self.spec["classes"]
        out = [{"probabilities": dict(zip(classes, row)), "label": label, "warnings": w}
               for row, label, w in zip(probs.tolist(), labels, warnings)]
        if self.post["type"] == "risk-levels":
            p = probs[:, classes.index(self.post["positive_class"])]
            levels = self.post["levels"]
            names = np.array([lv["level"] for lv in levels])
            at = np.searchsorted([lv["below"] for lv in levels[:-1]], p, side="right")
            for r, prob, level in zip(out, p.tolist(), names[at].tolist()):
                r["risk"] = {"probability": prob, "level": level}
        else:
            normal = classes.index(self.post["normal_class"])
            score = 1 - probs[:, normal]
            others = probs.copy()
            others[:, normal] = -1
            kinds = np.where(score >= self.post["threshold"], self.classes[others.argmax(axis=1)], "none")
            for r, sc, kind in zip(out, score.tolist(), kinds.tolist()):
                r["anomaly"] = {"score": sc, "threshold": self.post["threshold"], "flagged": kind != "none", "kind": kind}
        return out

    @staticmethod
    def summary(results: list) -> dict:
        """How many results fall in each risk level or anomaly kind: the Go
        side checks that its own batch gives the same counts."""
        return dict(Counter(r["risk"]["level"] if "risk" in r else r["anomaly"]["kind"] for r in results))


def load(name: str) -> tuple[str, np.ndarray, list]:
    """The fixture's held-out rows: the input's name, the rows as a ready
    float32 array, and the same rows as dicts, as a JSON request carries
    them (the Go bench builds its inputs the same way)."""
    fx = json.loads((common.FIXTURES / f"{name}.json").read_text())
    if "rows" in fx:
        dicts = [{"features": {f: {"value": v} for f, v in zip(fx["features"], row)}} for row in fx["rows"]]
        return fx["input"], np.asarray(fx["rows"], dtype=np.float32), dicts
    dicts = [{"channels": {c: {"values": v} for c, v in zip(fx["channels"], w)}} for w in fx["windows"]]
    return fx["input"], np.asarray(fx["windows"], dtype=np.float32), dicts


def quiet() -> None:
    """Pauses before each measure so that ONNX Runtime's thread pools, which
    spin for a while after a run, are asleep when it starts (the Go side
    pauses the same way)."""
    time.sleep(0.1)


class Bench:
    """One model's sessions and rows, timed a round at a time."""

    def __init__(self, name: str, batch_size: int, threads: int):
        path = common.ARTIFACTS / f"{name}.onnx"
        self.sess = common.session(path)
        self.sess_batch = common.session(path, intra_op_threads=threads)
        spec = json.loads(self.sess.get_modelmeta().custom_metadata_map["carepath.spec"])
        self.job = Job(self.sess_batch, spec)
        self.input_name, rows, dicts = load(name)
        self.singles = [rows[i:i + 1] for i in range(len(rows))]
        self.batch = np.asarray([rows[i % len(rows)] for i in range(batch_size)])
        self.batch_dicts = [dicts[i % len(dicts)] for i in range(batch_size)]
        for i in range(200):  # warm-up
            self.run(self.singles[i % len(self.singles)])
        self.run(self.batch, self.sess_batch)
        self.job.predict(self.batch_dicts)

    def run(self, x, sess=None):
        return (sess or self.sess).run(["probabilities"], {self.input_name: x})

    def rate(self, batches: int, once) -> float:
        quiet()
        t0 = time.perf_counter_ns()
        for _ in range(batches):
            once()
        return len(self.batch) * batches / ((time.perf_counter_ns() - t0) / 1e9)

    def round(self, single: int, batches: int) -> dict:
        times = np.empty(single)
        quiet()
        for i in range(single):
            x = self.singles[i % len(self.singles)]
            t0 = time.perf_counter_ns()
            self.run(x)
            times[i] = time.perf_counter_ns() - t0
        return dict(single_p50_us=float(np.percentile(times, 50)) / 1e3,
                    single_p99_us=float(np.percentile(times, 99)) / 1e3,
                    run_rows_per_s=self.rate(batches, lambda: self.run(self.batch, self.sess_batch)),
                    job_rows_per_s=self.rate(batches, lambda: self.job.predict(self.batch_dicts)),
                    job_summary=Job.summary(self.job.predict(self.batch_dicts)))


def main() -> None:
    """Reads model names from stdin, one per line, and answers each with one
    timed round as a JSON line; the Go driver interleaves these rounds with
    its own so that both sides see the same load on a shared machine."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--single", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of the batch session (Go's GOMAXPROCS)")
    a = ap.parse_args()
    import onnxruntime
    benches = {m: Bench(m, a.batch_size, a.threads) for m in a.models}
    print(json.dumps(dict(ready=True, onnxruntime=onnxruntime.__version__)), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        print(json.dumps(benches[name].round(a.single, a.batches)), flush=True)


if __name__ == "__main__":
    main()

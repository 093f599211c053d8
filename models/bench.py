"""Python side of the model benchmark (`make bench-models`).

The Go program inference/bench runs this in the same run, on the same
machine, with the same ONNX file and the same rows, and prints both sides
with their ratio. Python is timed calling InferenceSession.run on a ready
numpy array: the runtime's own cost, with no validation. Sessions use the
settings the Go registry uses (one intra-op and one inter-op thread). Go
splits a large batch into shards that run at the same time on up to
GOMAXPROCS cores, so batches are also timed on a second session with that
many intra-op threads: the same cores, used ONNX Runtime's own way.

It answers one timed round per request (see main), in JSON: single-row
latency percentiles in microseconds and batch throughput in rows per
second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import common


def rows_of(name: str) -> tuple[str, np.ndarray]:
    fx = json.loads((common.FIXTURES / f"{name}.json").read_text())
    if "rows" in fx:
        return fx["input"], np.asarray(fx["rows"], dtype=np.float32)
    return fx["input"], np.asarray(fx["windows"], dtype=np.float32)


class Bench:
    """One model's session and rows, timed a round at a time."""

    def __init__(self, name: str, batch_size: int, threads: int):
        self.sess = common.session(common.ARTIFACTS / f"{name}.onnx")
        self.sess_threads = common.session(common.ARTIFACTS / f"{name}.onnx", intra_op_threads=threads)
        self.input_name, rows = rows_of(name)
        self.singles = [rows[i:i + 1] for i in range(len(rows))]
        reps = -(-batch_size // len(rows))
        self.batch = np.concatenate([rows] * reps)[:batch_size]
        for i in range(200):  # warm-up
            self.run(self.singles[i % len(self.singles)])
        self.run(self.batch)
        self.run(self.batch, self.sess_threads)

    def run(self, x, sess=None):
        return (sess or self.sess).run(["probabilities"], {self.input_name: x})

    def batch_rate(self, batches: int, sess=None) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(batches):
            self.run(self.batch, sess)
        return len(self.batch) * batches / ((time.perf_counter_ns() - t0) / 1e9)

    def round(self, single: int, batches: int) -> dict:
        times = np.empty(single)
        for i in range(single):
            x = self.singles[i % len(self.singles)]
            t0 = time.perf_counter_ns()
            self.run(x)
            times[i] = time.perf_counter_ns() - t0
        return dict(single_p50_us=float(np.percentile(times, 50)) / 1e3,
                    single_p99_us=float(np.percentile(times, 99)) / 1e3,
                    batch_rows_per_s=self.batch_rate(batches),
                    batch_threads_rows_per_s=self.batch_rate(batches, self.sess_threads))


def main() -> None:
    """Reads model names from stdin, one per line, and answers each with one
    timed round as a JSON line; the Go driver interleaves these rounds with
    its own so that both sides see the same load on a shared machine."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--single", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of the second batch session")
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

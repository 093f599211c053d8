"""Vitals anomaly model: is this hour of wearable readings (heart rate, SpO2,
glucose) anomalous, and of which kind?

No real stream data was available, so the model is trained and evaluated on
windows from the documented simulator in vitals_sim.py: training on one
seed's subjects, evaluation on a fresh seed's subjects with injected,
labelled anomalies of each kind.

The exported graph takes the raw window [N, 3, 12] and computes its own
summary features inside ONNX (per channel: min, max, mean, 4th-highest and
4th-lowest reading, i.e. the level held for at least 20 minutes, and the
change from the first to the last quarter hour), then a gradient-boosted
classifier over six classes. The anomaly score is 1 - P(normal); the kind is
the most probable anomalous class when the score reaches the threshold.

Writes models/artifacts/vitals-anomaly.onnx, models/fixtures/vitals-anomaly.json
and models/cards/vitals-anomaly.md.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score

import common
import vitals_sim as sim

NAME = "vitals-anomaly"
VERSION = "1.0.0"
TRAIN_SEED, EVAL_SEED, HARD_SEED = 101, 202, 303
THRESHOLD = 0.5
FEATURE_NAMES = [f"{stat}_{ch['name']}" for stat in ["min", "max", "mean", "held_high", "held_low", "trend"]
                 for ch in sim.CHANNELS]


def feature_graph() -> onnx.ModelProto:
    """ONNX graph: window [N,3,12] -> summary features [N,18]."""
    c = len(sim.CHANNELS)
    const = lambda name, vals: helper.make_tensor(name, TensorProto.INT64, [len(vals)], vals)  # noqa: E731
    nodes = [
        helper.make_node("ReduceMin", ["window"], ["f_min"], axes=[2], keepdims=0),
        helper.make_node("ReduceMax", ["window"], ["f_max"], axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["window"], ["f_mean"], axes=[2], keepdims=0),
        helper.make_node("TopK", ["window", "k4"], ["top4", "top4_idx"], axis=2, largest=1, sorted=1),
        helper.make_node("TopK", ["window", "k4"], ["bot4", "bot4_idx"], axis=2, largest=0, sorted=1),
        helper.make_node("Slice", ["top4", "s3", "s4", "ax2"], ["top4_last"]),
        helper.make_node("Slice", ["bot4", "s3", "s4", "ax2"], ["bot4_last"]),
        helper.make_node("Squeeze", ["top4_last", "ax2"], ["f_held_high"]),
        helper.make_node("Squeeze", ["bot4_last", "ax2"], ["f_held_low"]),
        helper.make_node("Slice", ["window", "s0", "s3", "ax2"], ["first_q"]),
        helper.make_node("Slice", ["window", "s9", "s12", "ax2"], ["last_q"]),
        helper.make_node("ReduceMean", ["first_q"], ["first_mean"], axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["last_q"], ["last_mean"], axes=[2], keepdims=0),
        helper.make_node("Sub", ["last_mean", "first_mean"], ["f_trend"]),
        helper.make_node("Concat", ["f_min", "f_max", "f_mean", "f_held_high", "f_held_low", "f_trend"],
                         ["features"], axis=1),
    ]
    inits = [const("k4", [4]), const("s0", [0]), const("s3", [3]), const("s4", [4]), const("s9", [9]),
             const("s12", [12]), const("ax2", [2])]
    graph = helper.make_graph(
        nodes, "vitals-features",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", c, sim.LENGTH])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 6 * c])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", common.TARGET_OPSET[""])])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def features_of(windows: np.ndarray) -> np.ndarray:
    """The training features, computed by ONNX Runtime from the same graph
    that serves, so training and serving cannot drift apart."""
    import onnxruntime as ort
    sess = ort.InferenceSession(feature_graph().SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["features"], {"window": windows})[0]


def build_model():
    return GradientBoostingClassifier(
        n_estimators=80, learning_rate=0.1, max_depth=3, min_samples_leaf=20, subsample=0.8,
        random_state=TRAIN_SEED)


def decide(probs):
    score = 1.0 - probs[:, 0]
    kind = np.where(score >= THRESHOLD, probs[:, 1:].argmax(axis=1) + 1, 0)
    return score, kind


def main() -> dict:
    common.seed_everything(TRAIN_SEED)
    X_train, y_train, _ = sim.dataset(np.random.default_rng(TRAIN_SEED), normal=12000, per_kind=1600)
    X_eval, y_eval, info_eval = sim.dataset(np.random.default_rng(EVAL_SEED), normal=6000, per_kind=600)

    clf = build_model().fit(features_of(X_train), y_train)
    clf_onnx = convert_sklearn(
        clf, initial_types=[("features", FloatTensorType([None, len(FEATURE_NAMES)]))],
        options={id(clf): {"zipmap": False}}, target_opset=common.TARGET_OPSET)
    feats = feature_graph()
    # merge_models wants identical IR and opset versions; the feature ops
    # (ReduceMin with axes as an attribute, TopK, Slice, Squeeze) are the
    # same in every opset from 13 to 17, so take the classifier's.
    feats.ir_version = clf_onnx.ir_version
    del feats.opset_import[:]
    feats.opset_import.extend(clf_onnx.opset_import)
    merged = onnx.compose.merge_models(feats, clf_onnx, io_map=[("features", "features")],
                                       outputs=["probabilities"])

    train_min = X_train.min(axis=(0, 2))
    train_max = X_train.max(axis=(0, 2))
    channels = [dict(ch, train_min=float(lo), train_max=float(hi))
                for ch, lo, hi in zip(sim.CHANNELS, train_min, train_max)]
    card = dict(
        data="Synthetic: windows from CarePath's documented physiological simulator (models/vitals_sim.py). "
             "No real stream data was available; the model has never seen a real wearable's readings",
        licence="Generated by CarePath's own simulator; no third-party data, so no data licence applies",
        target="Six classes: normal, tachycardia, bradycardia, desaturation, hypoglycaemia, hyperglycaemia "
               "(bands as in vitals_sim.py)",
        split=f"Training: {len(y_train)} windows from simulator seed {TRAIN_SEED}; evaluation: {len(y_eval)} "
              f"windows from seed {EVAL_SEED} (fresh subjects) with injected, labelled anomalies",
        metrics={},
        calibration="Not calibrated to real prevalence; the score ranks windows for review",
        intended_use="Flag hours of remote-monitoring readings for a clinician to review",
        limits="Trained only on simulated data; real sensors have failure modes, artefacts and "
               "physiology the simulator does not model; not validated on any patient; one anomaly "
               "kind per window; never a diagnosis",
    )
    spec = dict(
        name=NAME, version=VERSION, kind="window-classifier",
        description="Anomaly score and kind for an hour of wearable vitals (heart rate, SpO2, glucose)",
        onnx=dict(input="window", output="probabilities"),
        window=dict(length=sim.LENGTH, interval_minutes=sim.INTERVAL_MINUTES, channels=channels),
        classes=sim.CLASSES,
        postprocess=dict(type="anomaly", normal_class="normal", threshold=THRESHOLD),
        card=card, source=card["data"], disclaimer=common.DISCLAIMER,
    )
    path = common.save_model(common.attach_spec(merged, spec), NAME)
    sess = common.session(path)
    probs = sess.run(["probabilities"], {"window": X_eval})[0]
    score, kind = decide(probs)

    per_kind = per_kind_metrics(kind, y_eval)
    X_hard, y_hard, _ = sim.dataset(np.random.default_rng(HARD_SEED), normal=3000, per_kind=300, hard=True)
    _, kind_hard = decide(sess.run(["probabilities"], {"window": X_hard})[0])
    hard = dict(per_kind=per_kind_metrics(kind_hard, y_hard), windows=int(len(y_hard)),
                detection_recall=common.wilson(int(((kind_hard > 0) & (y_hard > 0)).sum()), int((y_hard > 0).sum())))
    flagged, anomalous = kind > 0, y_eval > 0
    artefact = np.array([bool(d.get("artefact")) for d in info_eval])
    detection = dict(
        precision=common.wilson(int((flagged & anomalous).sum()), int(flagged.sum())),
        recall=common.wilson(int((flagged & anomalous).sum()), int(anomalous.sum())),
        false_alarm_rate=common.wilson(int((flagged & ~anomalous).sum()), int((~anomalous).sum())),
        artefact_false_alarm_rate=common.wilson(int((flagged & artefact).sum()), int(artefact.sum())),
        auroc=common.bootstrap_ci(roc_auc_score, anomalous.astype(int), score, n=200)[:3],
        right_kind_when_flagged=common.wilson(int((flagged & (kind == y_eval)).sum()),
                                              int((flagged & anomalous).sum())),
    )
    metrics = dict(per_kind=per_kind, detection=detection, threshold=THRESHOLD, borderline=hard,
                   eval_windows=int(len(y_eval)), eval_normal=int((y_eval == 0).sum()),
                   eval_artefacts=int(artefact.sum()))
    spec["card"]["metrics"] = dict(
        detection_precision=detection["precision"], detection_recall=detection["recall"],
        **{f"{r['kind']}_recall": r["recall"] for r in per_kind})
    path = common.save_model(common.attach_spec(onnx.load(str(path)), spec), NAME)

    # Parity fixture: a stratified sample of the evaluation windows (all of
    # them would make a 1 MB fixture for no extra coverage).
    rng = np.random.default_rng(EVAL_SEED + 1)
    pick = np.sort(np.concatenate([rng.choice(np.flatnonzero(y_eval == k), 40, replace=False)
                                   for k in range(len(sim.CLASSES))]))
    sess = common.session(path)
    probs_fx = sess.run(["probabilities"], {"window": X_eval[pick]})[0]
    _, kind_fx = decide(probs_fx)
    common.write_fixture(NAME, dict(
        model=NAME, version=VERSION, input="window", output="probabilities",
        onnxruntime=__import__("onnxruntime").__version__,
        channels=[c["name"] for c in sim.CHANNELS], units=[c["unit"] for c in sim.CHANNELS],
        windows=[common.f32_list(w) for w in X_eval[pick]],
        labels=[sim.CLASSES[i] for i in y_eval[pick]],
        probabilities=common.f32_list(probs_fx),
        kinds=[sim.CLASSES[i] if i else "none" for i in kind_fx]))
    write_card(spec, metrics)
    return dict(name=NAME, detection_precision=detection["precision"], detection_recall=detection["recall"])


def per_kind_metrics(kind, y):
    out = []
    for k, name in enumerate(sim.KINDS, start=1):
        tp = int(((kind == k) & (y == k)).sum())
        out.append(dict(kind=name, windows=int((y == k).sum()), predicted=int((kind == k).sum()),
                        precision=common.wilson(tp, int((kind == k).sum())),
                        recall=common.wilson(tp, int((y == k).sum()))))
    return out


def write_card(spec, m):
    c = spec["card"]
    f = common.fmt_ci
    d = m["detection"]
    lines = [
        f"# Model card: {spec['name']} {spec['version']}", "",
        f"> {common.DISCLAIMER}", "",
        "> **No real stream data was available.** This model was trained and evaluated only on synthetic "
        "windows from CarePath's own physiological simulator. Its figures describe how well it recovers the "
        "simulator's injected anomalies, not how it performs on patients.", "",
        f"{spec['description']}. Generated by `models/train_anomaly.py` (`make models`).", "",
        "| | |", "| --- | --- |",
        f"| Data | {c['data']} |",
        f"| Licence | {c['licence']} |",
        f"| Input | {sim.LENGTH} readings at {sim.INTERVAL_MINUTES}-minute intervals (one hour) of heart rate (bpm), "
        "SpO2 (%) and glucose (mg/dL, or mmol/L converted), as a [N, 3, 12] tensor |",
        f"| Target | {c['target']} |",
        f"| Split | {c['split']} |",
        "| Model | Summary features computed inside the ONNX graph (per channel: min, max, mean, 4th-highest and "
        "4th-lowest reading, first-to-last quarter-hour change), then scikit-learn GradientBoostingClassifier "
        "(80 rounds of depth-3 trees per class), exported with skl2onnx and merged into one graph |",
        f"| Output | score = 1 - P(normal); kind = most probable anomaly when score >= {m['threshold']} |",
        f"| Calibration | {c['calibration']} |",
        f"| Intended use | {c['intended_use']} |",
        f"| Limits | {c['limits']} |", "",
        "## Evaluation on injected anomalies (simulator seed 202, fresh subjects)", "",
        f"{m['eval_windows']} windows: {m['eval_normal']} normal (of which {m['eval_artefacts']} carry a one-reading "
        "motion artefact) and 600 of each anomaly kind. Wilson 95% intervals.", "",
        "| kind | windows | predicted | precision | recall |", "| --- | --- | --- | --- | --- |",
    ]
    for r in m["per_kind"]:
        lines.append(f"| {r['kind']} | {r['windows']} | {r['predicted']} | {f(*r['precision'])} | {f(*r['recall'])} |")
    lines += [
        "", "Any anomaly versus normal:", "",
        f"- precision {f(*d['precision'])}, recall {f(*d['recall'])}, AUROC of the score {f(*d['auroc'])} "
        "(bootstrap, 200 resamples);",
        f"- false alarms on normal windows {f(*d['false_alarm_rate'])}; on windows with a motion artefact "
        f"{f(*d['artefact_false_alarm_rate'])};",
        f"- right kind among flagged anomalous windows {f(*d['right_kind_when_flagged'])}.", "",
        "These figures are near perfect because the simulator leaves a gap between normal and anomalous "
        "levels (for example a normal heart rate stays at or below 120 bpm and injected tachycardia starts at "
        "125). They show that the pipeline recovers what was injected; they say nothing about real patients.", "",
        f"### Borderline anomalies (simulator seed {HARD_SEED})", "",
        f"{m['borderline']['windows']} windows: 3000 normal and 300 of each kind just past the band edge with a "
        "late onset (three or four affected readings); see `vitals_sim.py`.", "",
        "| kind | windows | predicted | precision | recall |", "| --- | --- | --- | --- | --- |",
    ]
    for r in m["borderline"]["per_kind"]:
        lines.append(f"| {r['kind']} | {r['windows']} | {r['predicted']} | {f(*r['precision'])} | {f(*r['recall'])} |")
    lines += [
        "", f"Any anomaly detected: recall {f(*m['borderline']['detection_recall'])}.", "",
        "## Serving", "",
        "Served by the Go `inference` package through ONNX Runtime 1.24.3. A window must have exactly 12 finite "
        "readings per channel, in the declared unit (or mmol/L for glucose), inside the plausible range "
        "(heart rate 20–250 bpm, SpO2 50–100 %, glucose 20–600 mg/dL), else it is refused with no score. "
        "Parity: Go's probabilities equal Python ONNX Runtime's to 1e-5 on 240 evaluation windows "
        "(`models/fixtures/vitals-anomaly.json`).", "",
    ]
    (common.CARDS / f"{spec['name']}.md").write_text("\n".join(lines))
    (common.CARDS / f"{spec['name']}.metrics.json").write_text(json.dumps(m, indent=1) + "\n")


if __name__ == "__main__":
    print(json.dumps(main()))

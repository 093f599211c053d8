"""Risk stratification model: the chance of high diabetes progression one
year after baseline, from ten baseline measurements.

Data: the diabetes data set of Efron, Hastie, Johnstone and Tibshirani (2004)
as shipped inside scikit-learn (load_diabetes, scaled=False, so the features
keep their clinical units). 442 patients; the target is a quantitative
measure of disease progression one year after baseline. We call progression
of 200 or more "high progression" (28.7% of patients); the source defines no
clinical cut-off, so this threshold is ours and the card says so.

Model: gradient boosting (scikit-learn GradientBoostingClassifier), its
probabilities calibrated by Platt scaling with 5-fold cross-validation
(CalibratedClassifierCV). The three risk levels (low, medium, high) come from
out-of-fold predictions on the training split only, so the held-out split
reports them honestly.

Writes models/artifacts/diabetes-progression-risk.onnx, the parity fixture
models/fixtures/diabetes-progression-risk.json and the card
models/cards/diabetes-progression-risk.md.
"""

from __future__ import annotations

import json

import numpy as np
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import common

NAME = "diabetes-progression-risk"
VERSION = "1.0.0"
SEED = 42
HIGH_PROGRESSION = 200.0

# Clinical names, units and plausible ranges for load_diabetes' columns (in
# its order). Plausible ranges are wide physiological limits: a value outside
# one is a data-entry or unit error, never a score. The training ranges are
# added from the data below, so the Go side can warn about extrapolation.
FEATURES = [
    dict(name="age", source="age", unit="years", min=18, max=110,
         description="Age at baseline"),
    dict(name="sex", source="sex", unit="code", min=1, max=2, allowed=[1, 2],
         description="Sex as coded in the source data (1 or 2); the source does not document which code is which"),
    dict(name="bmi", source="bmi", unit="kg/m2", min=10, max=80,
         description="Body mass index"),
    dict(name="mean_arterial_pressure", source="bp", unit="mmHg", min=40, max=180,
         description="Average blood pressure"),
    dict(name="total_cholesterol", source="s1", unit="mg/dL", min=50, max=600,
         description="Total serum cholesterol", units=[dict(unit="mmol/L", scale=38.67)]),
    dict(name="ldl", source="s2", unit="mg/dL", min=10, max=400,
         description="Low-density lipoproteins", units=[dict(unit="mmol/L", scale=38.67)]),
    dict(name="hdl", source="s3", unit="mg/dL", min=5, max=200,
         description="High-density lipoproteins", units=[dict(unit="mmol/L", scale=38.67)]),
    dict(name="cholesterol_hdl_ratio", source="s4", unit="ratio", min=1, max=30,
         description="Total cholesterol / HDL"),
    dict(name="log_triglycerides", source="s5", unit="ln(mg/dL)", min=2.3, max=8.5,
         description="Natural log of serum triglycerides (the source says 'possibly log of serum triglycerides level')"),
    dict(name="glucose", source="s6", unit="mg/dL", min=20, max=600,
         description="Blood sugar level", units=[dict(unit="mmol/L", scale=18.016)]),
]
CLASSES = ["not_high_progression", "high_progression"]


def build_model():
    gb = GradientBoostingClassifier(
        n_estimators=150, learning_rate=0.05, max_depth=2, subsample=0.8,
        min_samples_leaf=10, random_state=SEED)
    return CalibratedClassifierCV(gb, method="sigmoid",
                                  cv=StratifiedKFold(5, shuffle=True, random_state=SEED))


def choose_levels(y, p):
    """Level cut points from out-of-fold training predictions.

    low/medium: the highest cut that still sends at least 90% of the
    high-progression patients to medium or high (a rule-out level).
    medium/high: the lowest cut with at least 90% specificity (a rule-in
    level). Rounded to two decimals so that pathway authors can read them."""
    cuts = np.round(np.arange(0.01, 0.99, 0.01), 2)
    sens = np.array([(p[y == 1] >= c).mean() for c in cuts])
    spec = np.array([(p[y == 0] < c).mean() for c in cuts])
    low = float(cuts[sens >= 0.90].max())
    high = float(cuts[spec >= 0.90].min())
    if high <= low:
        raise SystemExit(f"level cut points overlap: low {low}, high {high}")
    return low, high


def level_of(p, low, high):
    return np.where(p < low, "low", np.where(p < high, "medium", "high"))


def calibration_slope_intercept(y, p):
    logit = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))
    lr = LogisticRegression(C=1e6).fit(logit.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def main() -> dict:
    common.seed_everything(SEED)
    data = load_diabetes(scaled=False)
    order = [data.feature_names.index(f["source"]) for f in FEATURES]
    X = data.data[:, order].astype(np.float32)
    y = (data.target >= HIGH_PROGRESSION).astype(np.int64)

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED)

    oof = cross_val_predict(build_model(), X_train, y_train,
                            cv=StratifiedKFold(5, shuffle=True, random_state=SEED + 1),
                            method="predict_proba")[:, 1]
    low, high = choose_levels(y_train, oof)

    model = build_model().fit(X_train, y_train)
    for f, col in zip(FEATURES, X_train.T):
        f["train_min"], f["train_max"] = float(col.min()), float(col.max())

    onx = convert_sklearn(
        model, initial_types=[("features", FloatTensorType([None, len(FEATURES)]))],
        options={id(model): {"zipmap": False}}, target_opset=common.TARGET_OPSET)

    # Held-out metrics come from the exported ONNX graph itself, run by ONNX
    # Runtime: the numbers on the card are the numbers Go serves.
    tmp = common.ARTIFACTS / f"{NAME}.onnx"
    common.save_model(onx, NAME)
    sess = common.session(tmp)
    probs = sess.run(["probabilities"], {"features": X_test})[0]
    p = probs[:, 1].astype(np.float64)

    auc = common.bootstrap_ci(roc_auc_score, y_test, p)
    brier = common.bootstrap_ci(brier_score_loss, y_test, p)
    prevalence_brier = brier_score_loss(y_test, np.full_like(p, y_train.mean()))
    slope, intercept = calibration_slope_intercept(y_test, p)
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    baseline_auc = common.bootstrap_ci(roc_auc_score, y_test, baseline.predict_proba(X_test)[:, 1])

    levels = level_of(p, low, high)
    level_rows = []
    for name in ["low", "medium", "high"]:
        mask = levels == name
        rate = common.wilson(int(y_test[mask].sum()), int(mask.sum()))
        level_rows.append(dict(level=name, patients=int(mask.sum()), events=int(y_test[mask].sum()),
                               observed_rate=rate))
    sens_not_low = common.wilson(int(((levels != "low") & (y_test == 1)).sum()), int((y_test == 1).sum()))
    spec_not_high = common.wilson(int(((levels != "high") & (y_test == 0)).sum()), int((y_test == 0).sum()))
    ppv_high = common.wilson(int(((levels == "high") & (y_test == 1)).sum()), int((levels == "high").sum()))

    reliability = []
    edges = np.quantile(p, np.linspace(0, 1, 6))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, 4)
    for b in range(5):
        mask = bins == b
        reliability.append(dict(mean_predicted=float(p[mask].mean()),
                                observed=common.wilson(int(y_test[mask].sum()), int(mask.sum())),
                                patients=int(mask.sum())))

    metrics = dict(
        held_out_patients=int(len(y_test)), held_out_events=int(y_test.sum()),
        train_patients=int(len(y_train)), train_events=int(y_train.sum()),
        auroc=auc[:3], brier=brier[:3], brier_prevalence_only=float(prevalence_brier),
        calibration_slope=slope, calibration_intercept=intercept,
        logistic_regression_auroc=baseline_auc[:3],
        sensitivity_not_low=sens_not_low, specificity_not_high=spec_not_high, ppv_high=ppv_high,
        levels=level_rows, reliability=reliability, bootstrap_resamples=auc[3])

    card = dict(
        data="Diabetes data set (Efron, Hastie, Johnstone and Tibshirani, 2004, 'Least Angle Regression', "
             "Annals of Statistics 32(2)), 442 patients, as shipped in scikit-learn 1.7.2 (load_diabetes)",
        licence="Distributed with scikit-learn under its BSD-3-Clause licence; original data published with "
                "Efron et al. (2004) for research use",
        target=f"High disease progression: the source's one-year progression measure >= {HIGH_PROGRESSION:.0f} "
               "(a cut-off chosen by CarePath, not a clinical definition from the source)",
        split="Stratified 75/25 train/held-out split, seed 42; level cut points from 5-fold out-of-fold "
              "predictions on the training split only",
        metrics=dict(auroc=auc[:3], brier=brier[:3], calibration_slope=slope,
                     calibration_intercept=intercept),
        calibration="Platt scaling (sigmoid), 5-fold CalibratedClassifierCV",
        intended_use="Stratify follow-up intensity in a diabetes care pathway, reviewed by a clinician",
        limits="442 patients from one historical cohort whose setting the source does not describe; no external "
               "validation; gradient boosting does not beat a logistic regression on this small set; the sex coding is "
               "undocumented; progression measure has no published clinical unit; do not use for diagnosis "
               "or for patients outside the training ranges without clinical review",
    )
    spec = dict(
        name=NAME, version=VERSION, kind="tabular-classifier",
        description="Probability of high diabetes progression at one year, with a risk level for pathways",
        onnx=dict(input="features", output="probabilities"),
        features=FEATURES, classes=CLASSES,
        postprocess=dict(type="risk-levels", positive_class="high_progression",
                         levels=[dict(level="low", below=low), dict(level="medium", below=high),
                                 dict(level="high")]),
        card=card, source=card["data"], disclaimer=common.DISCLAIMER,
    )
    onx = common.attach_spec(onx, spec)
    path = common.save_model(onx, NAME)

    # The fixture holds what ONNX Runtime in Python gives for the held-out
    # rows from the final, spec-carrying file: Go must match it to 1e-5.
    sess = common.session(path)
    probs = sess.run(["probabilities"], {"features": X_test})[0]
    common.write_fixture(NAME, dict(
        model=NAME, version=VERSION, input="features", output="probabilities",
        onnxruntime=__import__("onnxruntime").__version__,
        features=[f["name"] for f in FEATURES], units=[f["unit"] for f in FEATURES],
        rows=common.f32_list(X_test), probabilities=common.f32_list(probs),
        levels=list(level_of(probs[:, 1].astype(np.float64), low, high))))
    write_card(spec, metrics, low, high)
    return dict(name=NAME, auroc=auc[:3], brier=brier[:3], levels=(low, high))


def write_card(spec, m, low, high):
    c = spec["card"]
    f = common.fmt_ci
    lines = [
        f"# Model card: {spec['name']} {spec['version']}", "",
        f"> {common.DISCLAIMER}", "",
        f"{spec['description']}. Generated by `models/train_risk.py` (`make models`); the numbers below are "
        "recomputed on every training run from the exported ONNX graph.", "",
        "| | |", "| --- | --- |",
        f"| Data | {c['data']} |",
        f"| Licence | {c['licence']} |",
        f"| Target | {c['target']} |",
        f"| Split | {c['split']}: {m['train_patients']} training patients ({m['train_events']} events), "
        f"{m['held_out_patients']} held-out ({m['held_out_events']} events) |",
        "| Model | scikit-learn GradientBoostingClassifier (150 trees, depth 2, learning rate 0.05, subsample 0.8), "
        "Platt-calibrated, exported with skl2onnx (opset 17, ai.onnx.ml 3) |",
        f"| Calibration | {c['calibration']} |",
        f"| Intended use | {c['intended_use']} |",
        f"| Limits | {c['limits']} |", "",
        "## Features (in model order)", "",
        "| name | unit | plausible range (else rejected) | training range | other accepted units |",
        "| --- | --- | --- | --- | --- |",
    ]
    for feat in spec["features"]:
        alt = ", ".join(f"{u['unit']} (x{u['scale']})" for u in feat.get("units", [])) or "-"
        lines.append(f"| `{feat['name']}` ({feat['description']}) | {feat['unit']} | {feat['min']}–{feat['max']} | "
                     f"{feat['train_min']:g}–{feat['train_max']:g} | {alt} |")
    lines += [
        "", "## Held-out metrics", "",
        f"- AUROC {f(*m['auroc'])}; a standardised logistic regression on the same split: "
        f"{f(*m['logistic_regression_auroc'])} (the intervals overlap: on 442 patients gradient boosting is no "
        "better than a linear model, which is reported here as a sanity check).",
        f"- Brier score {f(*m['brier'])}; predicting the training prevalence for everyone scores "
        f"{m['brier_prevalence_only']:.3f}.",
        f"- Calibration slope {m['calibration_slope']:.2f}, intercept {m['calibration_intercept']:.2f} "
        "(ideal 1 and 0; logistic recalibration on the held-out split).",
        f"- Intervals: percentile bootstrap over patients ({m['bootstrap_resamples']} resamples, seed 7) "
        "for AUROC and Brier; Wilson intervals for proportions.", "",
        "### Reliability (held-out quintiles of predicted probability)", "",
        "| patients | mean predicted | observed |", "| --- | --- | --- |",
    ]
    for r in m["reliability"]:
        lines.append(f"| {r['patients']} | {r['mean_predicted']:.3f} | {f(*r['observed'])} |")
    lines += [
        "", "## Risk levels", "",
        f"`low` below {low:.2f}, `medium` from {low:.2f} to below {high:.2f}, `high` from {high:.2f}. "
        "Chosen on out-of-fold training predictions: at least 90% of high-progression patients score `medium` "
        "or `high`, and `high` has at least 90% specificity. Pathways branch on the level.", "",
        "| level | held-out patients | events | observed rate |", "| --- | --- | --- | --- |",
    ]
    for r in m["levels"]:
        lines.append(f"| {r['level']} | {r['patients']} | {r['events']} | {f(*r['observed_rate'])} |")
    lines += [
        "",
        f"- Sensitivity of medium-or-high: {f(*m['sensitivity_not_low'])}.",
        f"- Specificity of not-high: {f(*m['specificity_not_high'])}; PPV of high: {f(*m['ppv_high'])}.",
        "", "## Serving", "",
        "Served by the Go `inference` package through ONNX Runtime 1.24.3. Inputs are validated first: every "
        "feature must be present, finite, in its unit (or a listed other unit, converted) and inside its "
        "plausible range, else the request is refused with the field at fault and no score. Values outside the "
        "training range are scored with a warning. Parity: Go's probabilities equal Python ONNX Runtime's on "
        "every held-out row to 1e-5 (`models/fixtures/diabetes-progression-risk.json`).", "",
    ]
    (common.CARDS).mkdir(parents=True, exist_ok=True)
    (common.CARDS / f"{spec['name']}.md").write_text("\n".join(lines))
    (common.CARDS / f"{spec['name']}.metrics.json").write_text(json.dumps(m, indent=1) + "\n")


if __name__ == "__main__":
    print(json.dumps(main()))

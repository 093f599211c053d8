"""A physiological simulator of wearable vitals, for training and testing the
vitals anomaly model. No real stream data was available to CarePath, so every
window here is synthetic; the model card says so.

A window is one hour of readings at 5-minute intervals (12 readings) on three
channels, in this order:

    heart_rate  beats per minute, as a wrist sensor reports it (integer)
    spo2        peripheral oxygen saturation, percent (integer, at most 100)
    glucose     interstitial glucose from a CGM, mg/dL (integer)

Subjects. Each window belongs to a freshly drawn adult subject:
    resting heart rate  N(70, 8) clipped to 50..95 bpm
    baseline SpO2       N(97, 1) clipped to 94..99.5 %
    diabetes            60% of subjects; baseline glucose N(135, 25) clipped to
                        90..200 mg/dL, otherwise N(95, 8) clipped to 75..115

Contexts of a normal window (probabilities):
    rest (0.45)      heart rate AR(1) around the resting rate
    sleep (0.20)     heart rate 5..14 bpm below rest, SpO2 up to 1.5 points lower
    activity (0.20)  from a random onset, heart rate rises by 20..45 bpm over two
                     readings (a brisk walk); SpO2 up to 1 point lower; glucose
                     falls by up to 20 mg/dL over the hour
    meal (0.15)      glucose follows a gamma-shaped excursion peaking 45..60 min
                     after a random onset, 20..60 mg/dL high (40..110 with
                     diabetes)
Every channel adds AR(1) physiological variation (heart rate phi 0.7, sd 2.5;
SpO2 phi 0.6, sd 0.5; glucose a random-walk drift of sd 1.5 mg/dL per
reading) and sensor noise (heart rate sd 1.5 bpm, CGM 4% multiplicative),
then readings are rounded as devices report them. 10% of normal windows carry
one motion artefact: a single heart-rate reading 30..70 bpm high or a single
SpO2 reading 6..12 points low. An artefact is not an anomaly: it is not
sustained.

A normal window must stay out of every anomaly band (below); a draw that
enters one is rejected and redrawn, so that labels mean what they say.

Anomalies are injected into a normal window at a random onset reading 0..8,
so that at least four readings (20 minutes) are affected, reaching their level
over a short ramp and then holding it with the same noise as above:
    tachycardia     heart rate 125..170 bpm (ramp 1..2 readings)
    bradycardia     heart rate 30..44 bpm (ramp 1..2)
    desaturation    SpO2 80..89 % (ramp 1)
    hypoglycaemia   glucose 40..65 mg/dL (ramp 2..3, the CGM's lag)
    hyperglycaemia  glucose 260..400 mg/dL (ramp 2..3)
The bands follow common clinical thresholds: heart rate over 120 or under 45
at rest, SpO2 under 90%, glucose under 70 (level 1 hypoglycaemia, ADA) and
over 250 mg/dL.

Borderline anomalies (hard=True) are for evaluation only: levels just past
the band edge (heart rate 121..130 or 40..44, SpO2 87..89, glucose 60..69 or
251..275) and a late onset (readings 8..9), so only three or four readings
are affected. The gaps between normal and anomalous levels above make the
standard set easy by design; this set shows where the model starts to miss.
"""

from __future__ import annotations

import numpy as np

CHANNELS = [
    dict(name="heart_rate", unit="bpm", min=20, max=250, description="Heart rate"),
    dict(name="spo2", unit="%", min=50, max=100, description="Peripheral oxygen saturation"),
    dict(name="glucose", unit="mg/dL", min=20, max=600, description="Interstitial (CGM) or capillary glucose",
         units=[dict(unit="mmol/L", scale=18.016)]),
]
LENGTH = 12
INTERVAL_MINUTES = 5
KINDS = ["tachycardia", "bradycardia", "desaturation", "hypoglycaemia", "hyperglycaemia"]
CLASSES = ["normal"] + KINDS

# Anomaly bands a normal window may not enter.
HR_HIGH, HR_LOW, SPO2_LOW, GLU_LOW, GLU_HIGH = 120, 45, 90, 70, 250


def _ar1(rng, n, phi, sd):
    x = np.zeros(n)
    x[0] = rng.normal(0, sd / np.sqrt(1 - phi * phi))
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(0, sd)
    return x


def _ramp(n, onset, steps):
    """0 before onset, rising linearly to 1 over `steps` readings, then 1."""
    r = np.zeros(n)
    for i in range(onset, n):
        r[i] = min(1.0, (i - onset + 1) / steps)
    return r


def subject(rng):
    diabetic = rng.random() < 0.6
    glu = np.clip(rng.normal(135, 25), 90, 200) if diabetic else np.clip(rng.normal(95, 8), 75, 115)
    return dict(rest_hr=float(np.clip(rng.normal(70, 8), 50, 95)),
                spo2=float(np.clip(rng.normal(97, 1), 94, 99.5)),
                diabetic=diabetic, glucose=float(glu))


def _draw_normal(rng, subj, context, artefact):
    n = LENGTH
    t = np.arange(n)
    hr = subj["rest_hr"] + _ar1(rng, n, 0.7, 2.5)
    spo2 = subj["spo2"] + _ar1(rng, n, 0.6, 0.5)
    glu = subj["glucose"] + np.cumsum(rng.normal(0, 1.5, n))
    if context == "sleep":
        hr -= rng.uniform(5, 14)
        spo2 -= rng.uniform(0, 1.5)
    elif context == "activity":
        onset = int(rng.integers(0, n - 2))
        hr += rng.uniform(20, 45) * _ramp(n, onset, 2)
        spo2 -= rng.uniform(0, 1) * _ramp(n, onset, 2)
        glu -= rng.uniform(0, 20) * t / (n - 1)
    elif context == "meal":
        onset = int(rng.integers(0, 6))
        peak = rng.uniform(40, 110) if subj["diabetic"] else rng.uniform(20, 60)
        peak_after = rng.uniform(9, 12)  # readings: 45..60 minutes
        dt = np.maximum(t - onset, 0).astype(float)
        curve = (dt / peak_after) ** 2 * np.exp(2 * (1 - dt / peak_after))  # peaks at 1
        glu += peak * curve
    hr = hr + rng.normal(0, 1.5, n)
    glu = glu * (1 + rng.normal(0, 0.04, n))
    if artefact:
        i = int(rng.integers(0, n))
        if rng.random() < 0.5:
            hr[i] += rng.uniform(30, 70)
        else:
            spo2[i] -= rng.uniform(6, 12)
    return np.stack([hr, spo2, glu])


def _device_round(w):
    w = np.round(w)
    w[1] = np.minimum(w[1], 100)
    return w


def _in_band(w, artefact):
    hr, spo2, glu = w
    # An artefact is one reading; it may cross a band, but only once.
    allowed = 1 if artefact else 0
    return ((hr > HR_HIGH).sum() > allowed or (hr < HR_LOW).any() or (spo2 < SPO2_LOW).sum() > allowed
            or (glu < GLU_LOW).any() or (glu > GLU_HIGH).any())


def normal_window(rng, subj=None):
    subj = subj or subject(rng)
    while True:
        context = rng.choice(["rest", "sleep", "activity", "meal"], p=[0.45, 0.2, 0.2, 0.15])
        artefact = rng.random() < 0.10
        w = _device_round(_draw_normal(rng, subj, context, artefact))
        if not _in_band(w, artefact):
            return w, dict(context=str(context), artefact=bool(artefact))


LEVELS = dict(tachycardia=(125, 170), bradycardia=(30, 44), desaturation=(80, 89),
              hypoglycaemia=(40, 65), hyperglycaemia=(260, 400))
HARD_LEVELS = dict(tachycardia=(121, 130), bradycardia=(40, 44), desaturation=(87, 89.4),
                   hypoglycaemia=(60, 69), hyperglycaemia=(251, 275))


def anomalous_window(rng, kind, subj=None, hard=False):
    subj = subj or subject(rng)
    while True:
        context = rng.choice(["rest", "sleep", "meal"], p=[0.6, 0.2, 0.2])
        base = _draw_normal(rng, subj, context, artefact=False)
        if not _in_band(_device_round(base.copy()), False):
            break
    n = LENGTH
    onset = int(rng.integers(8, 10)) if hard else int(rng.integers(0, n - 3))
    if kind not in LEVELS:
        raise ValueError(f"unknown anomaly kind {kind!r}")
    level = rng.uniform(*(HARD_LEVELS if hard else LEVELS)[kind])
    w = base.copy()
    if kind == "tachycardia":
        r = _ramp(n, onset, int(rng.integers(1, 3)))
        w[0] = w[0] * (1 - r) + (level + _ar1(rng, n, 0.7, 2.5)) * r
    elif kind == "bradycardia":
        r = _ramp(n, onset, int(rng.integers(1, 3)))
        w[0] = w[0] * (1 - r) + (level + _ar1(rng, n, 0.7, 1.5)) * r
    elif kind == "desaturation":
        r = _ramp(n, onset, 1)
        w[1] = w[1] * (1 - r) + (level + _ar1(rng, n, 0.6, 0.8)) * r
    elif kind == "hypoglycaemia":
        r = _ramp(n, onset, int(rng.integers(2, 4)))
        w[2] = w[2] * (1 - r) + level * (1 + rng.normal(0, 0.04, n)) * r
    elif kind == "hyperglycaemia":
        r = _ramp(n, onset, int(rng.integers(2, 4)))
        w[2] = w[2] * (1 - r) + level * (1 + rng.normal(0, 0.04, n)) * r
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}")
    w = _device_round(w)
    w[0] = np.clip(w[0], 25, 240)
    w[2] = np.clip(w[2], 30, 500)
    return w, dict(context=str(context), onset=onset, level=float(level))


def dataset(rng, normal: int, per_kind: int, hard: bool = False):
    """Windows [n, 3, 12] float32, class indices into CLASSES, and details."""
    xs, ys, info = [], [], []
    for _ in range(normal):
        w, d = normal_window(rng)
        xs.append(w), ys.append(0), info.append(d)
    for k, kind in enumerate(KINDS, start=1):
        for _ in range(per_kind):
            w, d = anomalous_window(rng, kind, hard=hard)
            xs.append(w), ys.append(k), info.append(d)
    order = rng.permutation(len(xs))
    X = np.asarray(xs, dtype=np.float32)[order]
    y = np.asarray(ys, dtype=np.int64)[order]
    return X, y, [info[i] for i in order]

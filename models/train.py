"""Retrains every CarePath model (`make models`): the risk stratification
model and the vitals anomaly model. Each script exports its ONNX artifact
with the serving spec in its metadata, the parity fixture that the Go tests
compare against, and its model card. Seeds are fixed and the requirements
pinned, so a rerun reproduces the committed files.
"""

from __future__ import annotations

import json
import sys

import train_anomaly
import train_risk


def main() -> int:
    for module in (train_risk, train_anomaly):
        summary = module.main()
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m cnai.quickstart.retrain``: the command the quickstart's drift monitor runs on a breach.

It refits the model on the original training data plus the freshly labelled post-shift wines,
logs the run, and registers a new version of the model, which the quickstart then rolls out as a
canary. The monitor passes the alert in CNAI_ALERT_JSON; the version is tagged with the window
that triggered it, so the registry says why it exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnai.quickstart.retrain", description=__doc__)
    parser.add_argument("--tracking-uri", required=True, help="The control plane, e.g. http://127.0.0.1:8080")
    parser.add_argument("--fresh", type=Path, required=True, help="CSV of labelled post-shift rows ('label' column)")
    parser.add_argument("--marker", type=Path, help="Write the new version number here when done")
    args = parser.parse_args(argv)
    if args.marker:
        # One drift incident runs this command once (the monitor's cooldown); the lock still
        # makes a rerun for the same quickstart (a retried delivery, a second incident) a no-op.
        # It is created atomically, so concurrent runs agree on which one trains.
        try:
            (args.marker.parent / "retrain.lock").open("x").close()
        except FileExistsError:
            sys.stdout.write("a retraining for this drift already ran; nothing to do\n")
            return 0

    from mlflow import MlflowClient

    from cnai.quickstart import data, training

    wine = data.load()
    fresh = pd.read_csv(args.fresh)
    labels = fresh.pop("label")
    split = len(fresh) // 2  # half to train on, half to judge the refit by
    x = pd.concat([wine.train, fresh.iloc[:split]], ignore_index=True)
    y = pd.concat([wine.train_labels, labels.iloc[:split]], ignore_index=True)
    candidate = training.retrain(args.tracking_uri, x, y, fresh.iloc[split:], labels.iloc[split:])
    version = training.register(args.tracking_uri, candidate)
    client = MlflowClient(args.tracking_uri, registry_uri=args.tracking_uri)
    client.set_model_version_tag(training.MODEL_NAME, version, "trigger", "drift-monitor")
    window = os.environ.get("CNAI_WINDOW")
    if window:
        client.set_model_version_tag(training.MODEL_NAME, version, "monitor_window", window)
    if args.marker:
        args.marker.write_text(version)
    sys.stdout.write(f"registered {training.MODEL_NAME} version {version} (accuracy {candidate.accuracy:.3f})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The loop a local worker process runs: import the objective once, then trial after trial.

Kept apart from ``local.py`` so the forkserver preloads only this (and what it imports), not the
driver's modules. Messages are tuples over a duplex pipe; the worker exits when the pipe closes,
which is what happens when the driver dies, however it dies.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

from cnai.tune.objective import ObjectiveImportError, load_objective
from cnai.tune.trial_runner import run_trial


def main(conn: Connection, spec: str) -> None:
    try:
        objective = load_objective(spec)
    except ObjectiveImportError as exc:
        conn.send(("import-error", exc.message))
        return
    conn.send(("ready", os.getpid()))
    try:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                return
            _, number, params, prune, model_path = message

            def sink(step: int, value: float, number: int = number, prune: bool = prune) -> bool:
                if not prune:
                    return False  # no answer to wait for: the steps travel with the outcome
                conn.send(("report", number, step, value))
                answer = conn.recv()
                return bool(answer[1])

            outcome = run_trial(objective, params, sink, model_path)
            conn.send(("done", number, outcome))
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        return  # the driver is gone

"""`cnai quickstart`: the whole lifecycle, driven against a private `cnai up` as a user would.

- ``data``: the wine dataset that ships with scikit-learn, traffic drawn from it, and the shift.
- ``training``: the sweep and the retraining, logged and registered with the stock mlflow client.
- ``retrain``: the command the drift monitor runs on a breach (``python -m cnai.quickstart.retrain``).
- ``story``: the steps in order, with progress, ending in a summary.
"""

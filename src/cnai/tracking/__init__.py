"""Experiments, runs, metrics, params, tags, datasets and logged models (MLflow's tracking model)."""

"""MLflow REST API 2.0 routes, one module per resource; HTTP concerns only."""

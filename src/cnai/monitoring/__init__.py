"""Monitoring: drift statistics, data quality and reports (pure functions over columns)."""

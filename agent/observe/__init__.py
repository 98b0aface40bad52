"""Observability: the per-call timeline, metrics, cost, records, report."""

"""Datasets and stages on disk: layouts, metadata, resume decisions, results. No Prefect."""

"""The Prefect mapping: flows, subflows, row-group tasks, hooks, global concurrency limits,
result persistence and artifacts."""

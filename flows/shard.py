"""Deployment entrypoint: one shard of a sharded dataset or stage.

prefect.yaml's ``dd-prefect-shard`` deployment points at ``flows/shard.py:shard_flow``; the
run that owns the dataset starts its flow runs (see README "Scaling").
"""

from dd_prefect.orchestration.shards import shard_flow

__all__ = ["shard_flow"]

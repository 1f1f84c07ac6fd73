"""Generating rows: one row group at a time, with plain asyncio. No Prefect imports."""

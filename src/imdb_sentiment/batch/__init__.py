"""Batch scoring with Prefect: chunked I/O (local or s3://), the flow, and its monitoring report."""

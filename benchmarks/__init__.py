"""Side-by-side upload benchmarks against the local OSS server (``python -m benchmarks.run``)."""

"""An fsspec filesystem for ``oss://`` on this provider's own client (Airflow's ObjectStoragePath)."""

"""Airflow asset (dataset) support for ``oss://`` URIs."""

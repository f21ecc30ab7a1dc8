"""Airflow-free OSS client core: nothing in this package imports Airflow."""

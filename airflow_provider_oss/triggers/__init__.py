"""Triggers that run in Airflow's triggerer while an OSS sensor is deferred."""

"""Remote task logs on OSS: :class:`~airflow_provider_oss.log.oss_remote_log.OssRemoteLogIO` (docs/REMOTE_LOGS.md)."""

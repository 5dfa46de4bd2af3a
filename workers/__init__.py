"""Processes: the Celery app and beat schedule, the HTTP ingress and the CLI."""

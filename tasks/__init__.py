"""The Celery app and diskferry's thin tasks (ids in, outcomes out)."""

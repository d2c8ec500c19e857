"""Typed settings, read from the environment once, and the Celery configuration built from them."""

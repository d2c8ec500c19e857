"""diskferry: replicate Azure managed disks and images across regions on a Celery fleet."""

"""Inspection for tests and the demo: content hashes, the audit of leftovers, seeding.

(Filled in by the admin/seed work; kept as its own module so that the admin API stays a
thin router.)
"""

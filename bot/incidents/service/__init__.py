"""Incident and on-call use-cases: each opens one unit of work and commits once."""

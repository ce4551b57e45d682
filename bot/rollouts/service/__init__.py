"""Rollback, deploy and automatic-rollback use-cases over the cluster client."""

"""Rollbacks and deploys on Kubernetes: domain, use-cases, store, cluster client and cog."""

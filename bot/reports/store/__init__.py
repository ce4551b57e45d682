"""The reports feature's tables and repository."""

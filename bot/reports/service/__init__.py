"""Use-cases of the reports feature."""

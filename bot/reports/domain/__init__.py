"""Pure rules of the reports feature: release metrics and DORA figures from the audit log."""

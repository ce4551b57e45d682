"""Post-deploy monitoring use-cases: windows, polls, pushed alerts, hand-offs, reads."""

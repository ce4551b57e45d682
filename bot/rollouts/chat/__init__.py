"""Rollouts on Discord: /release rollback and deploy, the Roll back button, reports."""

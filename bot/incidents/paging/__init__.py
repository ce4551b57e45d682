"""Outbound paging: PagerDuty Events API v2 and generic signed webhooks."""

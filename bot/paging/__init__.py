"""Paging adapters: the outbox dispatcher, PagerDuty Events API v2 and generic webhooks."""

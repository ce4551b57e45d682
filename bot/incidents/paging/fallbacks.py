"""Where a page goes when its channel keeps failing: the next channel, visibly.

PagerDuty or the webhook failing past its retry budget (or refusing a page for good) falls
back to Discord: a notice in the incident's release thread (the alerts channel without one)
that says which channel failed and why, mentioning the paged people and role, plus a DM to
each paged person. A Discord page failing past its budget falls back to PagerDuty and the
webhook when they are configured. The failing channel itself keeps being retried slowly by
the dispatcher; these messages only make sure somebody is reached meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from bot.runtime.outbox import DeliveryFailed, Fallback, OutboxMessage, Replacement, incident_of

NAMES = {"pagerduty": "PagerDuty", "webhook": "the paging webhook", "channel": "Discord"}
PRIVATE = "_releasebot"  # payload key with fallback facts; senders strip "_" keys


def _action(payload: Mapping[str, Any]) -> str:
    return str(payload.get("event_action", payload.get("event", "")))


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _facts(payload: Mapping[str, Any]) -> tuple[list[str], str | None, str]:
    """Return (recipients, target, summary) a PagerDuty or webhook payload tells about."""
    private = _dict(payload.get(PRIVATE))
    step = _dict(payload.get("step"))
    recipients = [str(u) for u in (private.get("recipients") or step.get("recipients") or [])]
    target = private.get("target") or step.get("target")
    inner = _dict(payload.get("payload"))
    incident = _dict(payload.get("incident"))
    summary = str(
        private.get("summary") or inner.get("summary") or incident.get("title") or "incident"
    )
    return recipients, (str(target) if target else None), summary


def external_to_discord(kind: str) -> Fallback:
    """Return the fallback of `kind` ("pagerduty"/"webhook"): a Discord notice, mention, DMs."""
    name = NAMES.get(kind, kind)

    def fallback(msg: OutboxMessage, failure: DeliveryFailed) -> list[Replacement] | None:
        incident_id = incident_of(msg)
        recipients, target, summary = _facts(msg.payload)
        action = _action(msg.payload)
        page = action in ("trigger", "incident.triggered", "incident.escalated")
        ref = f"incident #{incident_id}" if incident_id is not None else "a page"
        if page:
            text = (
                f"⚠️ Paging through {name} is failing ({failure.reason}); paging here instead "
                f"— {summary}. {name} keeps being retried."
            )
        else:
            text = f"⚠️ {name} could not be told that {ref} is {action.split('.')[-1]}d: " \
                   f"{failure.reason}. Still retrying."  # fmt: skip
        roles = [target] if page and target and not target.startswith("user:") else []
        notice: dict[str, Any] = {
            "where": "release",
            "fallback_alerts": True,
            "content": text,
            "mention_user_ids": recipients if page else [],
            "mention_roles": roles,
            "fallback_for": msg.id,
            "fallback_what": f"incident_{kind}_failed",
            "fallback_note": f"{name}: {action} not delivered ({failure.reason}); "
            f"posted in Discord{' and DMed the paged people' if page and recipients else ''}"
            f" instead (outbox #{msg.id})",
        }
        if incident_id is not None:
            notice["incident_id"] = incident_id
        out: list[Replacement] = [("channel", notice)]
        if page:
            for user in recipients:
                dm: dict[str, Any] = {
                    "user_id": user,
                    "content": f"🚨 You are paged ({name} is failing): {summary}",
                }
                if incident_id is not None:
                    dm["incident_id"] = incident_id
                out.append(("dm", dm))
        return out

    return fallback


def discord_to_external(available: Callable[[], Collection[str]]) -> Fallback:
    """Return the fallback of a Discord page: PagerDuty and the webhook, if configured."""

    def fallback(msg: OutboxMessage, failure: DeliveryFailed) -> list[Replacement] | None:
        payload = msg.payload
        incident_id = incident_of(msg)
        if payload.get("notice") != "page" or incident_id is None:
            return None  # only pages escalate to another channel; notices wait for Discord
        release = payload.get("release_id")
        summary = str(payload.get("text", f"incident #{incident_id}"))[:1000]
        reason = f"Discord is failing ({failure.reason})"
        out: list[Replacement] = []
        kinds = available()
        if "pagerduty" in kinds:
            out.append(
                (
                    "pagerduty",
                    {
                        "event_action": "trigger",
                        "dedup_key": f"releasebot-{release if release else 'none'}-{incident_id}",
                        "payload": {
                            "summary": f"{summary} [{reason}]"[:1024],
                            "source": "releasebot",
                            "severity": "critical",
                            "custom_details": {"incident_id": incident_id, "fallback": reason},
                        },
                    },
                )
            )
        if "webhook" in kinds:
            out.append(
                (
                    "webhook",
                    {
                        "event": "incident.triggered",
                        "incident": {"id": incident_id, "release_id": release},
                        "text": summary,
                        "fallback": reason,
                        "step": {
                            "target": payload.get("target"),
                            "recipients": list(payload.get("mention_user_ids", [])),
                        },
                    },
                )
            )
        return out or None

    return fallback


__all__ = ["discord_to_external", "external_to_discord"]

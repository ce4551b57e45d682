"""Alertmanager webhook (version 4): authenticate the sender, parse and validate the body.

Every rejection names the field or header at fault, so whoever configures Alertmanager can
fix it from the HTTP response alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

SIGNATURE_HEADER = "X-Releasebot-Signature"
SERVICE_LABEL = "service"
CONDITION_LABELS = ("releasebot_condition", "alertname")
MAX_BODY_BYTES = 1024 * 1024
MAX_ALERTS_PER_PUSH = 1_000
MAX_CONDITIONS_PER_PUSH = 50
MAX_JSON_DEPTH = 32
MAX_CONDITION_LENGTH = 64
# Alertmanager sends Go's zero time for "not resolved yet".
_GO_ZERO_TIME_YEAR = 1

AlertStatus = Literal["firing", "resolved"]


class WebhookRejected(Exception):
    """A webhook request refused with an HTTP status and a reason for the sender."""

    def __init__(self, status: int, reason: str) -> None:
        """Keep the HTTP status and the reason."""
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class AlertmanagerAlert:
    """One alert of a webhook body, as Alertmanager sent it."""

    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str


@dataclass(frozen=True)
class AlertSignal:
    """What the bot acts on for one alert: which service, which condition, firing or not."""

    service: str | None
    condition: str
    status: AlertStatus
    value: float | None
    fingerprint: str
    starts_at: datetime


@dataclass(frozen=True)
class AlertmanagerPayload:
    """A validated version-4 webhook body."""

    version: str
    group_key: str
    status: AlertStatus
    receiver: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    alerts: tuple[AlertmanagerAlert, ...]
    signals: tuple[AlertSignal, ...]
    """One signal per usable alert, in the body's order."""
    rejected: tuple[str, ...] = ()
    """Why each unusable alert was skipped ("alerts[3].startsAt: ..."), in the body's order."""


def normalize_condition(name: str) -> str:
    """Return `name` as a stable snake_case condition name ("HighErrorRate" -> "high_error_rate").

    Letters and digits of every script are kept ("Über" -> "über", "错误率过高" stays); a name
    with none of them (emoji only) becomes "alert_" plus a short digest of the name, so the
    same alertname always maps to the same condition.
    """
    text = unicodedata.normalize("NFKC", name.strip())
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", text)
    snake = re.sub(r"[\W_]+", "_", spaced.casefold()).strip("_")
    if len(snake) > MAX_CONDITION_LENGTH:
        snake = snake[:MAX_CONDITION_LENGTH].rstrip("_")
    if snake:
        return snake
    if not text:
        return ""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"alert_{digest}"


def parse_annotation_value(text: str | None) -> float | None:
    """Return the number in an annotation ("0.052", "5.2%"), or None when there is none."""
    if text is None:
        return None
    cleaned = text.strip()
    scale = 1.0
    if cleaned.endswith("%"):
        cleaned, scale = cleaned[:-1].strip(), 0.01
    try:
        value = float(cleaned) * scale
    except ValueError:
        return None
    return None if math.isnan(value) else value


def to_signal(alert: AlertmanagerAlert, index: int = 0) -> AlertSignal:
    """Return the signal for `alert`, or raise WebhookRejected(400) when it names no condition."""
    raw = next((alert.labels[key] for key in CONDITION_LABELS if alert.labels.get(key)), None)
    condition = normalize_condition(raw) if raw else ""
    if not condition:
        raise WebhookRejected(
            400, f"alerts[{index}].labels: needs a non-empty releasebot_condition or alertname"
        )
    return AlertSignal(
        service=alert.labels.get(SERVICE_LABEL) or None,
        condition=condition,
        status=alert.status,
        value=parse_annotation_value(alert.annotations.get("value")),
        fingerprint=alert.fingerprint,
        starts_at=alert.starts_at,
    )


def _reject(path: str, problem: str) -> WebhookRejected:
    return WebhookRejected(400, f"{path}: {problem}")


def _string(obj: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
    if key not in obj:
        if required:
            raise _reject(f"{path}{key}", "missing")
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise _reject(f"{path}{key}", f"expected a string, got {type(value).__name__}")
    if not _encodable(value):
        raise _reject(f"{path}{key}", "contains a lone surrogate (not valid Unicode text)")
    return value


def _status(obj: Mapping[str, Any], path: str) -> AlertStatus:
    value = _string(obj, "status", path)
    if value not in ("firing", "resolved"):
        raise _reject(f"{path}status", f'expected "firing" or "resolved", got {value[:40]!r}')
    return cast(AlertStatus, value)


def _labels(obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, str]:
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise _reject(f"{path}{key}", f"expected an object, got {type(value).__name__}")
    for name, item in value.items():
        if not isinstance(item, str):
            raise _reject(f"{path}{key}.{name}", f"expected a string, got {type(item).__name__}")
        if not (_encodable(name) and _encodable(item)):
            raise _reject(f"{path}{key}", "contains a lone surrogate (not valid Unicode text)")
    return dict(value)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _time(obj: Mapping[str, Any], key: str, path: str) -> datetime | None:
    text = _string(obj, key, path, required=key == "startsAt")
    if not text:
        return None
    shown = text[:40]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _reject(f"{path}{key}", f"not an RFC 3339 time: {shown!r}") from None
    if when.tzinfo is None:
        raise _reject(f"{path}{key}", f"time has no timezone: {shown!r}")
    if when.year == _GO_ZERO_TIME_YEAR:
        return None
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _reject(f"{path}{key}", f"time is out of range in UTC: {shown!r}") from None


def _alert(raw: Any, index: int) -> AlertmanagerAlert:
    path = f"alerts[{index}]."
    if not isinstance(raw, dict):
        raise _reject(f"alerts[{index}]", f"expected an object, got {type(raw).__name__}")
    starts_at = _time(raw, "startsAt", path)
    if starts_at is None:
        raise _reject(f"{path}startsAt", "missing (zero time)")
    fingerprint = _string(raw, "fingerprint", path)
    if not fingerprint:
        raise _reject(f"{path}fingerprint", "empty")
    return AlertmanagerAlert(
        status=_status(raw, path),
        labels=_labels(raw, "labels", path),
        annotations=_labels(raw, "annotations", path),
        starts_at=starts_at,
        ends_at=_time(raw, "endsAt", path),
        generator_url=_string(raw, "generatorURL", path, required=False),
        fingerprint=fingerprint,
    )


def _depth_ok(data: Any, limit: int) -> bool:
    """Return whether `data` nests no deeper than `limit` (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _load_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected(400, f"body is not UTF-8 JSON: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WebhookRejected(400, f"body is not UTF-8 JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an integer past Python's digit limit, ...
        raise WebhookRejected(400, f"body is not usable JSON: {str(exc)[:120]}") from None
    if not _depth_ok(data, MAX_JSON_DEPTH):
        raise WebhookRejected(400, f"body nests deeper than {MAX_JSON_DEPTH} levels")
    return data


def parse_alertmanager_webhook(
    body: bytes,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_alerts: int = MAX_ALERTS_PER_PUSH,
    max_conditions: int = MAX_CONDITIONS_PER_PUSH,
) -> AlertmanagerPayload:
    """Return the validated payload, or raise WebhookRejected naming the bad field.

    An unusable alert is skipped and named in `rejected`; the push is refused (400) only
    when no alert is usable. Above `max_alerts` alerts the push is 413, above
    `max_conditions` distinct condition names 422, both with the numbers.
    """
    if len(body) > max_bytes:
        raise WebhookRejected(413, f"body is {len(body)} bytes; the limit is {max_bytes}")
    data = _load_json(body)
    if not isinstance(data, dict):
        raise WebhookRejected(400, f"body: expected a JSON object, got {type(data).__name__}")
    version = _string(data, "version", "")
    if version != "4":
        raise _reject("version", f'expected "4", got {version[:20]!r}')
    if "alerts" not in data:
        raise _reject("alerts", "missing")
    alerts = data["alerts"]
    if not isinstance(alerts, list):
        raise _reject("alerts", f"expected a list, got {type(alerts).__name__}")
    if len(alerts) > max_alerts:
        raise WebhookRejected(
            413, f"alerts: {len(alerts)} alerts in one push; the limit is {max_alerts}"
        )
    parsed: list[AlertmanagerAlert] = []
    signals: list[AlertSignal] = []
    rejected: list[str] = []
    for index, raw in enumerate(alerts):
        try:
            one = _alert(raw, index)
            signal = to_signal(one, index)
        except WebhookRejected as refused:
            rejected.append(refused.reason)
            continue
        parsed.append(one)
        signals.append(signal)
    if alerts and not parsed:
        raise WebhookRejected(400, "; ".join(rejected[:5]))
    conditions = {signal.condition for signal in signals}
    if len(conditions) > max_conditions:
        raise WebhookRejected(
            422,
            f"alerts: {len(conditions)} distinct conditions in one push; "
            f"the limit is {max_conditions}",
        )
    return AlertmanagerPayload(
        version=version,
        group_key=_string(data, "groupKey", ""),
        status=_status(data, ""),
        receiver=_string(data, "receiver", ""),
        group_labels=_labels(data, "groupLabels", ""),
        common_labels=_labels(data, "commonLabels", ""),
        common_annotations=_labels(data, "commonAnnotations", ""),
        external_url=_string(data, "externalURL", "", required=False),
        alerts=tuple(parsed),
        signals=tuple(signals),
        rejected=tuple(rejected),
    )


def parse_api_alerts(alerts: Sequence[Mapping[str, Any]], group_key: str) -> AlertmanagerPayload:
    """Return the firing alerts of Alertmanager's GET /api/v2/alerts as one payload.

    The API lists alerts that are active now (no `status` string, no resolved ones); each
    is read exactly like a webhook alert, firing. Unusable ones are skipped and named.
    """
    parsed: list[AlertmanagerAlert] = []
    signals: list[AlertSignal] = []
    rejected: list[str] = []
    for index, raw in enumerate(alerts):
        try:
            one = _alert({**raw, "status": "firing"}, index)
            signal = to_signal(one, index)
        except WebhookRejected as refused:
            rejected.append(refused.reason)
            continue
        parsed.append(one)
        signals.append(signal)
    return AlertmanagerPayload(
        version="4",
        group_key=group_key,
        status="firing",
        receiver="api",
        group_labels={},
        common_labels={},
        common_annotations={},
        external_url="",
        alerts=tuple(parsed),
        signals=tuple(signals),
        rejected=tuple(rejected),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _check_bearer(presented: str, token: str) -> None:
    scheme, _, credentials = presented.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise WebhookRejected(401, "malformed Authorization header: expected 'Bearer <token>'")
    presented_bytes = credentials.strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(presented_bytes, token.encode("utf-8", "surrogateescape")):
        raise WebhookRejected(401, "bearer token does not match")


def _check_signature(presented: str, secret: str, body: bytes) -> None:
    scheme, _, digest = presented.strip().partition("=")
    if scheme != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise WebhookRejected(401, f"malformed {SIGNATURE_HEADER}: expected sha256=<64 hex digits>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(digest.lower().encode("ascii"), expected.encode("ascii")):
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} does not match the body")


def authenticate_headers(
    headers: Mapping[str, str], *, bearer_token: str | None, hmac_secret: str | None
) -> None:
    """Refuse (401) what the headers alone decide, before the body is read.

    Unconfigured authentication, no credential header at all, or a wrong bearer token.
    An HMAC signature needs the body: `authenticate` checks it once the body is read.
    """
    if not bearer_token and not hmac_secret:
        raise WebhookRejected(401, "webhook authentication not configured")
    authorization = _header(headers, "Authorization")
    if bearer_token and authorization is not None:
        _check_bearer(authorization, bearer_token)
        return
    if hmac_secret and _header(headers, SIGNATURE_HEADER) is not None:
        return
    authenticate(headers, b"", bearer_token=bearer_token, hmac_secret=hmac_secret)


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    *,
    bearer_token: str | None,
    hmac_secret: str | None,
) -> None:
    """Accept the request or raise WebhookRejected(401) saying why.

    Each configured method whose header is present must verify (a wrong credential is
    never outvoted by a right one); at least one configured method must be presented.
    """
    if not bearer_token and not hmac_secret:
        raise WebhookRejected(401, "webhook authentication not configured")
    checked = False
    authorization = _header(headers, "Authorization")
    if bearer_token and authorization is not None:
        _check_bearer(authorization, bearer_token)
        checked = True
    signature = _header(headers, SIGNATURE_HEADER)
    if hmac_secret and signature is not None:
        _check_signature(signature, hmac_secret, body)
        checked = True
    if not checked:
        wanted = [
            *(["Authorization: Bearer <token>"] if bearer_token else []),
            *([f"{SIGNATURE_HEADER}: sha256=<hex>"] if hmac_secret else []),
        ]
        raise WebhookRejected(401, f"missing credentials: expected {' or '.join(wanted)}")

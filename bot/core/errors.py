"""Domain errors: each says, in words a release lead understands, what is wrong."""

from __future__ import annotations

from collections.abc import Iterable


class DomainError(Exception):
    """Base of every rule violation the domain reports to a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """Reject a malformed value (version, date, window, reason...)."""


class NotAuthorized(DomainError):
    """Refuse an action because the actor lacks every role that allows it."""

    def __init__(
        self, action: str, actor_name: str, allowed: Iterable[str], target: str = ""
    ) -> None:
        roles = ", ".join(sorted(allowed)) or "nobody"
        what = f" on {target}" if target else ""
        super().__init__(
            f"{actor_name} may not {action}{what}: it needs one of these roles: {roles}"
        )
        self.action = action
        self.allowed = tuple(sorted(allowed))
        self.target = target


class InvalidTransition(DomainError):
    """Refuse an action the release's current state does not permit."""


class UnknownTarget(DomainError):
    """Refuse an action on an item, sign-off or release that does not exist."""


class DuplicateRelease(DomainError):
    """Refuse a second active release of the same service and version."""


class GatesOpen(DomainError):
    """Refuse to advance while the phase still has open gates; lists them."""

    def __init__(self, phase_title: str, open_gates: list[str]) -> None:
        listed = "\n".join(f"- {gate}" for gate in open_gates)
        super().__init__(f"{phase_title} cannot close yet; open gates:\n{listed}")
        self.phase_title = phase_title
        self.open_gates = open_gates


class ConcurrentUpdate(DomainError):
    """Signal that someone else changed the release first; the use-case retries."""


class StoreBusy(RuntimeError):
    """The store could not take the work in time (locked, queue full): retry later, no bug."""

"""The feedback tally: one vote (1-5) per person, changeable, with optional comments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.reports.domain.ports import Vote

SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Tally:
    """How many people gave each score, the mean and the comments."""

    counts: tuple[int, int, int, int, int]
    comments: tuple[tuple[str, str], ...]  # (who, text)

    @property
    def votes(self) -> int:
        """Return how many people voted."""
        return sum(self.counts)

    @property
    def mean(self) -> float | None:
        """Return the mean score (None without votes)."""
        if not self.votes:
            return None
        return sum(score * n for score, n in zip(SCORES, self.counts, strict=True)) / self.votes

    def line(self) -> str:
        """Return `4 votes, mean 3.75 · 1★ 0 · 2★ 1 ...`."""
        mean = "—" if self.mean is None else f"{self.mean:.2f}"
        spread = " · ".join(f"{s}★ {n}" for s, n in zip(SCORES, self.counts, strict=True))
        return f"{self.votes} vote{'s' if self.votes != 1 else ''}, mean {mean} · {spread}"

    def as_dict(self) -> dict[str, object]:
        """Return the tally as JSON-ready data."""
        return {
            "votes": self.votes,
            "mean": self.mean,
            "counts": {str(s): n for s, n in zip(SCORES, self.counts, strict=True)},
            "comments": [{"by": who, "text": text} for who, text in self.comments],
        }


def tally(votes: Sequence[Vote]) -> Tally:
    """Return the tally of the stored votes (each person's latest)."""
    counts = [0, 0, 0, 0, 0]
    for vote in votes:
        if vote.score in SCORES:
            counts[vote.score - 1] += 1
    comments = tuple((v.user_name, v.comment) for v in votes if v.comment)
    return Tally((counts[0], counts[1], counts[2], counts[3], counts[4]), comments)


def valid_score(value: int) -> int:
    """Return `value` if it is 1..5, else raise ValueError naming the scale."""
    if value not in SCORES:
        raise ValueError(f"a feedback score is 1 to 5, not {value}")
    return value

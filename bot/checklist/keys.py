"""Stable keys for phases and sections, and stable ids for items.

Keys come from the ASCII words of a heading, so "2. Production Deployment (生产环境部署)"
becomes "production". Item ids hash the item's own text, so editing other parts of the
file never changes an item's id (stored progress keeps pointing at the right checkbox).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterator

PHASE_ALIASES: dict[str, str] = {
    "pre-release-preparation": "pre-release",
    "release-process": "release",
}
# Dropped from the end of a `###` title: "Staging Deployment" reads better as "staging".
_SECTION_TAIL_WORDS = frozenset({"deployment", "plan"})

_LEADING_NUMBER = re.compile(r"^\s*(\d+)(?:\.\d+)*[.)]\s*")
_PARENTHESISED = re.compile(r"\([^()]*\)|（[^（）]*）")
_ASCII_WORD = re.compile(r"[a-z0-9]+")
_HAS_LETTER = re.compile(r"[a-z]")
_SPACES = re.compile(r"\s+")
_MAX_NUMBER_DIGITS = 4300  # int() refuses longer digit strings


def _slug_tokens(text: str) -> list[str]:
    tokens = []
    for chunk in text.lower().split():
        slug = "-".join(_ASCII_WORD.findall(chunk))
        if slug:
            tokens.append(slug)
    return tokens


def title_tokens(title: str) -> tuple[list[str], int | None]:
    """Return the slug tokens of a heading title and its leading number, if any.

    The leading "N. " and parenthesised parts are ignored; when nothing ASCII is left outside
    the parentheses, the parenthesised words are used ("发布 (Release)" -> ["release"]).
    """
    number_match = _LEADING_NUMBER.match(title)
    digits = number_match.group(1) if number_match else ""
    number = int(digits) if digits and len(digits) <= _MAX_NUMBER_DIGITS else None
    rest = title[number_match.end() :] if number_match else title
    tokens = _slug_tokens(_PARENTHESISED.sub(" ", rest))
    if not any(_HAS_LETTER.search(t) for t in tokens):
        inner = " ".join(m.group(0)[1:-1] for m in _PARENTHESISED.finditer(rest))
        tokens = _slug_tokens(inner)
    if not any(_HAS_LETTER.search(t) for t in tokens):
        tokens = []
    return tokens, number


def heading_key(title: str, level: int, ordinal: int, taken: Collection[str]) -> str:
    """Return the key slug for a heading at `level` (2, 3 or 4), unique among `taken`.

    `ordinal` is the 1-based position among its siblings, used when the title has no ASCII
    letters and no leading number. With a `KeySet` for `taken` the key is also marked taken.
    """
    tokens, number = title_tokens(title)
    if level == 3 and len(tokens) > 1 and tokens[-1] in _SECTION_TAIL_WORDS:
        tokens = tokens[:-1]
    if tokens:
        slug = "-".join(tokens)
        if level == 2:
            slug = PHASE_ALIASES.get(slug, slug)
    else:
        slug = f"s{number if number is not None else ordinal}"
    return unique(slug, taken)


class KeySet(Collection[str]):
    """The keys taken so far among siblings, with O(1) amortized `unique` suffixing.

    A plain set answers `in` in O(1), but suffixing the k-th repeat of one slug by probing
    `-2`, `-3`, ... costs O(k), so n repeats cost O(n²). Keys are only ever added, so the
    smallest free suffix of a slug never goes down: remembering where the last search for
    each slug stopped gives exactly the same answers in O(1) amortized.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}

    def __contains__(self, key: object) -> bool:
        """Return whether `key` is taken."""
        return key in self._taken

    def __iter__(self) -> Iterator[str]:
        """Iterate over the taken keys (in no particular order)."""
        return iter(self._taken)

    def __len__(self) -> int:
        """Return how many keys are taken."""
        return len(self._taken)

    def add(self, key: str) -> None:
        """Mark `key` as taken."""
        self._taken.add(key)

    def claim(self, slug: str) -> str:
        """Return `unique(slug, self)` and mark it taken."""
        if slug not in self._taken:
            key = slug
        else:
            n = self._next.get(slug, 2)
            while f"{slug}-{n}" in self._taken:
                n += 1
            self._next[slug] = n + 1
            key = f"{slug}-{n}"
        self._taken.add(key)
        return key


def unique(slug: str, taken: Collection[str]) -> str:
    """Return `slug`, or `slug-2`, `slug-3`, ... whichever is not in `taken`.

    With a `KeySet` the answer is also marked taken, in O(1) amortized time.
    """
    if isinstance(taken, KeySet):
        return taken.claim(slug)
    if slug not in taken:
        return slug
    n = 2
    while f"{slug}-{n}" in taken:
        n += 1
    return f"{slug}-{n}"


def normalize_text(text: str) -> str:
    """Return item text with whitespace runs collapsed to one space and ends trimmed."""
    return _SPACES.sub(" ", text).strip()


def item_id(section_key: str, text: str, taken: Collection[str]) -> str:
    """Return the content-derived id `<section_key>:<sha1[:8]>`, suffixed if `taken`.

    With a `KeySet` for `taken` the id is also marked taken.
    """
    digest = hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()[:8]
    return unique(f"{section_key}:{digest}", taken)

"""Domain tests: a small template and the default access policy."""

from tests.support.actors import policy, template  # noqa: F401  (fixtures)

"""Config tests: write a config file next to the example one."""

from tests.config.harness import write_config  # noqa: F401  (fixture)

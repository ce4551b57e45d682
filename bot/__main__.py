"""`python -m bot` is the `releasebot` command."""

import sys

from bot.cli import main

sys.exit(main())

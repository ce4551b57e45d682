"""Evidence from GitHub ticks the checklist (issue 17): CI, branch, tag, release, assets, changelog.

domain/ holds the pure verdicts, github/ the githubkit adapter, service/ runs the checks and
ticks items as the bot, chat/ has `/release verify` and the "Delete release branch" button,
wiring.py builds it all from settings.
"""

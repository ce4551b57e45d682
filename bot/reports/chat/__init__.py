"""The reports feature in Discord: announcements, feedback, the report, /release subcommands."""

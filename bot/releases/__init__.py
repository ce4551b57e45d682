"""The release room: checklist phases, sign-offs, gates; domain, use-cases, store and cog."""

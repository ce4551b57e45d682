"""Release rows <-> the Release aggregate, and checklist template snapshots."""

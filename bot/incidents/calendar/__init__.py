"""On-call rotations read from an iCal calendar (a URL or a file)."""

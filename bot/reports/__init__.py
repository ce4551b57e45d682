"""After the release: recorded metrics, DORA figures, announcements, feedback, the report."""

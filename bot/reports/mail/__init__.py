"""The announcement email: an aiosmtplib sender for the outbox."""

"""Sandboxes the offline demo runs against: loopback servers in real protocols."""

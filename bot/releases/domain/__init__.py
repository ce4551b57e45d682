"""The release aggregate and its value objects, pure: no I/O, no Discord, no database."""

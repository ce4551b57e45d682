"""Pure release domain: no I/O, no Discord, no database. Time comes from a `Clock`."""

"""The one shared test harness: the Discord world, actors, store, clock, inbox, loopback HTTP."""

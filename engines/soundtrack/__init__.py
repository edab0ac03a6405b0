"""Soundtrack engine: a masked multi-level token transformer (VAB / V2Meow / LORIS); see README.md."""

"""Training of the soundtrack engine (torch; not imported at run time)."""

"""Training of the ambience token model (torch; never imported at run time)."""

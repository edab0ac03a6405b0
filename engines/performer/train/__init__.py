"""Training code of the performer engine (torch, music21; never imported at run time)."""

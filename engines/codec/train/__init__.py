"""The codec's training (torch; never imported at run time)."""

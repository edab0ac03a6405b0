"""Training of the spatial engine's neural acoustic fields (torch; the ``[train]`` extra)."""

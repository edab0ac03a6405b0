"""Video-to-sound studio core (no Qt): media I/O, visual analysis, project model, jobs, CLI."""

__version__ = "0.1.0"

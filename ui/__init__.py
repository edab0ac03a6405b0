"""PySide6 desktop app of the studio. Talks to ``studio`` through its public API only."""

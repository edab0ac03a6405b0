"""A health check of the Qt binding, run when the app starts.

PySide6 6.12.0 returns ``None`` from every void method (``QPainter.drawLine``, ``setPen``, ...)
and ``True`` from ``Signal.emit`` without taking a reference; each call drops one reference of
that object, and after some thousand calls (one timeline redraw makes hundreds) CPython aborts
with "none_dealloc: deallocating None" / "bool_dealloc". 6.11.3 is fine. Rather than crash
minutes into a session, the app refuses to start on a binding with this bug and says why.
"""
from __future__ import annotations

import sys


def binding_problem() -> str | None:
    """A message when the running PySide6 has the reference-counting bug, else None."""
    import PySide6
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtGui import QColor

    class _Probe(QObject):
        sig = Signal()

    probe, colour = _Probe(), QColor(0, 0, 0)
    none0, true0 = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(64):
        colour.setAlpha(255)  # a void method: must return a new reference to None
        probe.sig.emit()
    lost_none, lost_true = none0 - sys.getrefcount(None), true0 - sys.getrefcount(True)
    if lost_none >= 64 or lost_true >= 64:
        import ctypes

        incref = ctypes.pythonapi.Py_IncRef
        incref.argtypes = [ctypes.py_object]
        for obj, lost in ((None, lost_none), (True, lost_true)):  # give back what the probe took
            for _ in range(max(0, lost)):
                incref(obj)
        return (f"PySide6 {PySide6.__version__} has a reference-counting bug that crashes the studio "
                "after a few minutes; install another release, e.g. pip install 'PySide6-Essentials==6.11.3'")
    return None

"""Work-arounds for bugs of the Qt binding, detected at run time (so a fixed release needs none).

PySide6 6.12.0: ``SignalInstance.emit()`` returns ``True`` without taking a reference to it, so
every emit from Python code drops one reference of ``True``; after a few thousand emits (the
playhead alone emits 60 a second) CPython aborts with "bool_dealloc: deallocating True or False".
6.11.x is fine. All emits in ``ui`` go through :func:`emit`, which gives the reference back when
the running binding has the bug.
"""
from __future__ import annotations

import ctypes
import sys

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def _emit_loses_reference() -> bool:
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        sig = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(16):
        probe.sig.emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(0, lost)):  # give back what the probe took
        _incref(True)
    return lost >= 16


EMIT_LOSES_REFERENCE = _emit_loses_reference()


def emit(signal, *args) -> None:
    """``signal.emit(*args)``, safe on every PySide6 release."""
    result = signal.emit(*args)
    if EMIT_LOSES_REFERENCE and result is not None:
        _incref(result)

"""Engines: pure numpy/scipy/onnxruntime back-ends of the studio (no torch at run time)."""

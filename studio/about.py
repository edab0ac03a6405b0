"""What this build is and runs on: for `studio devices` and the app's About box (no Qt here)."""
from __future__ import annotations

import platform

from studio import __version__


def build_info(open_models: bool = True) -> dict:
    """Version, engines present, ONNX runtime and the provider each model runs on, soundfont."""
    import onnxruntime

    from engines.runtime import model_providers, preferred_providers, runtime_distributions
    from studio.generate import available_engines

    dists, problem = runtime_distributions()
    info = {
        "version": __version__,
        "python": platform.python_version(),
        "engines": available_engines(),
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_distributions": dists,
        "onnxruntime_problem": problem,
        "onnx_providers_available": preferred_providers(),
        "models": model_providers() if open_models else {},
    }
    try:
        from studio.synth import find_soundfont

        info["soundfont"] = str(find_soundfont())
    except Exception as exc:  # a missing soundfont is reported, not fatal here
        info["soundfont"] = f"missing: {exc}"
    return info

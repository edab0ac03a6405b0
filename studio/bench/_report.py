"""One report for a whole ``studio bench`` run, and its plot (``--report FILE``, ``--plot FILE``).

A benchmark states its targets either explicitly, as ``"targets": [{"key": ..., "target": ...,
"better": "higher" | "lower"}]``, or by the convention ``target_<name>`` beside a measured key
that contains ``<name>`` (``target_realtime_factor`` -> ``realtime_factor``). The direction then
follows the unit: factors, rates, accuracies and recalls are better higher; times, ratios to a
floor, fractions of a period and errors are better lower.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.fsutil import write_bytes_atomic, write_text_atomic

HIGHER_IS_BETTER = ("factor", "per_s", "accuracy", "recall", "speedup", "hit_rate", "f1", "f_measure")


@dataclass(frozen=True)
class Headline:
    bench: str
    key: str
    value: float
    target: float
    higher_is_better: bool

    @property
    def meets(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    @property
    def score(self) -> float:
        """How far past the target, > 1 when it is met (value/target or target/value)."""
        if self.value <= 0 or self.target <= 0:
            return float("nan")
        return self.value / self.target if self.higher_is_better else self.target / self.value


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def headlines(result: dict) -> list[Headline]:
    name = str(result.get("name", "?"))
    out: list[Headline] = []
    for t in result.get("targets", []) or []:
        v = result.get(t.get("key"))
        if _number(v) and _number(t.get("target")):
            out.append(Headline(name, t["key"], float(v), float(t["target"]), t.get("better", "higher") == "higher"))
    if out:
        return out
    for key, target in result.items():
        if not key.startswith("target_") or not _number(target):
            continue
        want = key[len("target_"):]
        candidates = sorted((k for k, v in result.items() if want in k and _number(v)
                             and not k.startswith(("target_", "meets_"))), key=len)
        if candidates:
            k = candidates[0]
            out.append(Headline(name, k, float(result[k]), float(target),
                                any(w in k for w in HIGHER_IS_BETTER)))
    return out


def make_report(results: list[dict], machine: dict) -> dict:
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "results": results,
        "headlines": [{**h.__dict__, "meets": h.meets, "score": h.score}
                      for r in results for h in headlines(r)],
    }


def read_report(path: str | Path) -> dict:
    """A report written by ``--report``, checked before it is plotted or rewritten: a JSON object
    with ``results`` (objects), ``headlines`` (bench, key, finite value and target, direction)
    and an optional ``machine`` object and ``date``; else StudioError naming the field."""
    from typing import Any

    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

    from studio import schema

    class _HeadlineModel(BaseModel):
        model_config = ConfigDict(strict=True, extra="allow")
        bench: StrictStr
        key: StrictStr
        value: float = Field(allow_inf_nan=False)
        target: float = Field(allow_inf_nan=False)
        higher_is_better: StrictBool

    class _ReportModel(BaseModel):
        model_config = ConfigDict(strict=True, extra="allow")
        date: StrictStr = ""
        machine: dict[str, Any] = {}
        results: list[dict[str, Any]] = Field(default=[], max_length=10_000)
        headlines: list[_HeadlineModel] = Field(max_length=100_000)

    what = "benchmark report"
    data = schema.load_json(Path(path), StudioError, what, max_bytes=64 * 1024 * 1024)
    if not isinstance(data, dict):
        raise StudioError(f"{path} is not a {what} (a JSON object is needed)")
    try:
        _ReportModel.model_validate(data)
    except ValidationError as exc:
        raise StudioError(f"{path} is not a valid {what}: {schema.summary(exc)}") from None
    return data


def write_report(report: dict, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(report, indent=1) + "\n")


def plot_report(report: dict, path: str | Path) -> None:
    """A PNG: every headline figure as its distance from the target (log scale, 1 = on target)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise StudioError("--plot needs matplotlib: pip install matplotlib") from None
    import io

    rows = [h for h in (Headline(**{k: d[k] for k in ("bench", "key", "value", "target", "higher_is_better")})
                        for d in report["headlines"]) if math.isfinite(h.score)]
    if not rows:
        raise StudioError("no benchmark in this run states a target; nothing to plot")
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.6), dpi=110)
    labels, scores = [], []
    for h in rows:
        rel = "\u2265" if h.higher_is_better else "\u2264"
        labels.append(f"{h.bench}: {h.key} = {h.value:.3g} (target {rel} {h.target:g})")
        scores.append(h.score)
    colours = ["#3aa876" if h.meets else "#d9534f" for h in rows]
    y = range(len(rows))
    ax.barh(list(y), scores, color=colours, left=0)
    ax.set_xscale("log")
    ax.axvline(1.0, color="#444", lw=1, ls="--")
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("how far past the target (x, log scale; 1 = on target, right is better)")
    m = report.get("machine", {})
    ax.set_title(f"studio bench, {report.get('date', '')[:10]}, {m.get('cpu_count', '?')} CPU cores, "
                 f"{m.get('processor', '')}", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())

"""SLOs as code: ``slo.yaml`` → Prometheus recording rules and burn-rate alerts.

Alerts follow the SRE workbook's multi-window, multi-burn-rate recipe (chapter 5, table 5-8):
each alert fires only when both a long window (the budget really burned) and a short window
(it is still burning) exceed the same burn rate, which keeps them precise and quick to reset.

================  ============  =============  ===========  ========
budget consumed   long window   short window   burn rate    severity
================  ============  =============  ===========  ========
2 %               1h            5m             14.4         page
5 %               6h            30m            6            page
10 %              3d            6h             1            ticket
================  ============  =============  ===========  ========

Example:
    >>> rules = generate(load(Path("slo.yaml")))   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BURN_WINDOWS", "SLO", "BurnWindow", "check", "generate", "load"]


@dataclasses.dataclass(frozen=True, slots=True)
class BurnWindow:
    """One alerting condition of the multi-window, multi-burn-rate recipe."""

    long: str
    short: str
    burn_rate: float
    severity: str


#: The SRE workbook's recommended windows for a 30-day budget.
BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(long="1h", short="5m", burn_rate=14.4, severity="page"),
    BurnWindow(long="6h", short="30m", burn_rate=6.0, severity="page"),
    BurnWindow(long="3d", short="6h", burn_rate=1.0, severity="ticket"),
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^[0-9]+[smhdw]$")


@dataclasses.dataclass(frozen=True, slots=True)
class SLO:
    """One objective: the fraction of good events over ``window``.

    Attributes:
        name: Identifier used in rule names (``slo:<name>:error_ratio<window>``).
        description: What it promises, for people.
        objective: Target fraction of good events, e.g. 0.99.
        window: Compliance window (budget period), e.g. ``30d``.
        sli: ``{"kind": "latency", "metric", "selector", "threshold_seconds"}`` or
            ``{"kind": "ratio", "good", "total"}`` (PromQL with a ``{window}`` placeholder).
    """

    name: str
    description: str
    objective: float
    window: str
    sli: dict[str, Any]

    def error_ratio(self, window: str) -> str:
        """PromQL for the fraction of bad events over ``window``."""
        kind = self.sli["kind"]
        if kind == "latency":
            metric, selector = self.sli["metric"], self.sli.get("selector", "")
            threshold = self.sli["threshold_seconds"]
            sep = "," if selector else ""
            good = f'sum(rate({metric}_bucket{{{selector}{sep}le="{threshold}"}}[{window}]))'
            total = f"sum(rate({metric}_count{{{selector}}}[{window}]))"
        elif kind == "ratio":
            good = self.sli["good"].replace("{window}", window)
            total = self.sli["total"].replace("{window}", window)
        else:
            raise ValueError(f"SLO {self.name}: unknown SLI kind {kind!r}")
        return f"1 - (({good}) / ({total}))"


def load(path: Path) -> list[SLO]:
    """Parse and validate ``slo.yaml``.

    Raises:
        ValueError: naming the SLO and the field at fault.
    """
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    slos = []
    for raw in document.get("slos", []):
        slo = SLO(
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            objective=float(raw["objective"]),
            window=str(raw.get("window", "30d")),
            sli=dict(raw["sli"]),
        )
        if not _NAME.match(slo.name):
            raise ValueError(f"SLO name {slo.name!r} must be snake_case")
        if not 0 < slo.objective < 1:
            raise ValueError(f"SLO {slo.name}: objective must be between 0 and 1")
        if not _DURATION.match(slo.window):
            raise ValueError(f"SLO {slo.name}: window {slo.window!r} is not a duration")
        slo.error_ratio("5m")  # validates the SLI kind and fields
        slos.append(slo)
    if not slos:
        raise ValueError("slo.yaml defines no SLOs")
    return slos


def generate(slos: list[SLO]) -> dict[str, Any]:
    """Prometheus rule groups: error-ratio recordings per window, then burn-rate alerts."""
    windows = sorted({w for b in BURN_WINDOWS for w in (b.long, b.short)}, key=_seconds)
    groups = []
    for slo in slos:
        budget = round(1 - slo.objective, 10)
        recordings = [
            {
                "record": f"slo:{slo.name}:error_ratio{w}",
                "expr": slo.error_ratio(w),
                "labels": {"slo": slo.name},
            }
            for w in windows
        ]
        alerts = [
            {
                "alert": f"SLOBurn_{slo.name}_{b.long}_{b.short}",
                "expr": (
                    f"slo:{slo.name}:error_ratio{b.long} > ({b.burn_rate} * {budget})"
                    f" and slo:{slo.name}:error_ratio{b.short} > ({b.burn_rate} * {budget})"
                ),
                "labels": {"severity": b.severity, "slo": slo.name},
                "annotations": {
                    "summary": f"{slo.name} is burning its error budget {b.burn_rate}x too fast",
                    "description": (
                        f"{slo.description} Objective {slo.objective:.4%} over {slo.window};"
                        f" error ratio above {b.burn_rate}x budget over {b.long} and {b.short}."
                    ),
                },
            }
            for b in BURN_WINDOWS
        ]
        groups.append({"name": f"slo-{slo.name}", "rules": recordings + alerts})
    return {"groups": groups}


def check(rules: dict[str, Any]) -> list[str]:
    """Structural checks used when promtool is unavailable; returns the problems found."""
    problems: list[str] = []
    names: set[str] = set()
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("record") or rule.get("alert")
            if not name:
                problems.append(f"{group.get('name')}: a rule has neither record nor alert")
                continue
            if name in names:
                problems.append(f"{name}: defined twice")
            names.add(name)
            expr = str(rule.get("expr", ""))
            if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                problems.append(f"{name}: unbalanced brackets in expr")
            if "record" in rule and not re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", name):
                problems.append(f"{name}: not a valid metric name")
    return problems


def _seconds(duration: str) -> int:
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[duration[-1]]
    return int(duration[:-1]) * unit

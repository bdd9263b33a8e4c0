"""Writes a run: ``report.json``, ``report.md`` (tables) and ``latency.png`` (p50/p99 by rate).

The JSON holds every figure and each step's encoded HdrHistogram; the Markdown is what
``docs/performance.md`` quotes. ``nova bench recs`` (one rate, a warm and a cold phase) gets
its own table and no plot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["compare", "markdown", "recs_markdown", "write"]

_COLUMNS = (
    "| rate | thru/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU |"
    " PG conns | SQL/req | resp-cache hit | versioned hit | timeline hit | gen lag p99 ms |"
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _row(step: dict[str, Any]) -> str:
    lat = step["latency_ms"]
    sql = step.get("sql_statements_per_request")
    return (
        f"| {step['rate']:g} | {step['throughput']:g} | {lat['p50']:.2f} | {lat['p90']:.2f} |"
        f" {lat['p99']:.2f} | {lat['p999']:.2f} | {lat['max']:.1f} | {step['error_rate']:.2%} |"
        f" {step['server_cpu_percent']}% | {step['max_pg_connections'] or '-'} |"
        f" {'-' if sql is None else f'{sql:.1f}'} |"
        f" {_pct(step.get('response_cache_hit_ratio'))} |"
        f" {_pct(step.get('versioned_cache_hit_ratio'))} |"
        f" {_pct(step.get('timeline_hit_ratio'))} |"
        f" {step['generator_send_lag_ms']['p99']:.2f} |"
    )


def _table(title: str, sweep: dict[str, Any]) -> list[str]:
    knee = sweep["knee"]
    where = (
        f"knee at {knee['rate']:g} req/s ({knee['reason']})"
        if knee["rate"] is not None
        else "no knee within the sweep"
    )
    lines = [f"### {title}", "", where, "", _COLUMNS, "|" + "---|" * 15]
    return lines + [_row(step) for step in sweep["steps"]] + [""]


_RECS_COLUMNS = (
    "| cache | rate | thru/s | p50 ms | p90 ms | p99 ms | errors | CH queries / req |"
    " fallback share | pages RECOMMENDED / FALLBACK | server CPU | lists evicted before / during |"
)


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _recs_row(label: str, step: dict[str, Any]) -> str:
    lat = step["latency_ms"]
    queries = step.get("clickhouse_queries_per_request")
    fallback = step.get("recs_fallback_ratio")
    pages = (
        f"{_count(step.get('recs_pages_recommended'))} / {_count(step.get('recs_pages_fallback'))}"
    )
    evicted = (
        f"{_count(step['evicted_before_step'])} / {_count(step['evicted_keys'])}"
        if "evicted_keys" in step
        else "-"
    )
    return (
        f"| {label} | {step['rate']:g} | {step['throughput']:g} | {lat['p50']:.1f} |"
        f" {lat['p90']:.1f} | {lat['p99']:.1f} | {step['error_rate']:.1%} ({step['errors']:,}) |"
        f" {'-' if queries is None else f'{queries:.3f}'} |"
        f" {'-' if fallback is None else f'{fallback:.2f}'} | {pages} |"
        f" {step['server_cpu_percent']}% | {evicted} |"
    )


def recs_markdown(result: dict[str, Any]) -> str:
    """A ``nova bench recs`` result as Markdown: the fill, then one row per phase."""
    fill, plan = result["fill"], result["plan"]
    load = ", ".join(f"{v:.2f}" for v in result["load_average"])
    lines = [
        "## nova bench recs",
        "",
        f"`{result['invocation']}`",
        "",
        f"Load average at the start: {load} (1, 5, 15 min). {plan['users']} users,"
        f" {plan['step_seconds']:g} s per phase; cold = every `{result['key_pattern']}` key"
        f" deleted every {plan['evict_interval'] * 1000:g} ms during the step.",
        "",
        f"Fill: one page per user ({fill['concurrency']} in flight) in {fill['seconds']:g} s:"
        f" {fill['recommended']} RECOMMENDED, {fill['fallback']} CHRONOLOGICAL_FALLBACK,"
        f" {fill['failed']} failed ({fill['first_pass_recommended']} RECOMMENDED at the first"
        f" try, {fill['retried']} asked again alone).",
        "",
        _RECS_COLUMNS,
        "|---|" + "---:|" * 11,
    ]
    lines += [_recs_row(label, step) for label, step in result["phases"].items()]
    lines.append("")
    if "cold_skipped" in result:
        lines += [f"Cold phase skipped: {result['cold_skipped']}.", ""]
    for label, step in result["phases"].items():
        if step["error_samples"]:
            lines += [f"First error ({label}): `{step['error_samples'][0][:200]}`", ""]
    return "\n".join(lines)


def compare(optimized: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Side-by-side p50/p99 per rate measured in both sweeps, with baseline/optimized ratios."""
    by_rate = {step["rate"]: step for step in optimized["steps"]}
    rows = []
    for base in baseline["steps"]:
        opt = by_rate.get(base["rate"])
        if opt is None:
            continue
        row: dict[str, Any] = {"rate": base["rate"]}
        for key in ("p50", "p99"):
            b, o = base["latency_ms"][key], opt["latency_ms"][key]
            row[f"baseline_{key}"], row[f"optimized_{key}"] = b, o
            row[f"{key}_ratio"] = b / o if o else None
        row["baseline_sql"] = base.get("sql_statements_per_request")
        row["optimized_sql"] = opt.get("sql_statements_per_request")
        rows.append(row)
    return rows


def markdown(result: dict[str, Any]) -> str:
    """The run as Markdown: one table per sweep, then the comparison."""
    if result["command"] == "recs":
        return recs_markdown(result)
    lines = [f"## nova bench {result['command']}", "", f"`{result['invocation']}`", ""]
    lines += _table("optimized", result["optimized"])
    if "baseline" in result:
        lines += _table("baseline (NOVA_OPTIMIZATIONS=off)", result["baseline"])
        lines += [
            "### baseline / optimized",
            "",
            "| rate | p50 base | p50 opt | ratio | p99 base | p99 opt | ratio | SQL/req base |"
            " SQL/req opt |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in result["comparison"]:
            ratio50 = "-" if row["p50_ratio"] is None else f"{row['p50_ratio']:.1f}x"
            ratio99 = "-" if row["p99_ratio"] is None else f"{row['p99_ratio']:.1f}x"
            bsql, osql = row["baseline_sql"], row["optimized_sql"]
            lines.append(
                f"| {row['rate']:g} | {row['baseline_p50']:.2f} | {row['optimized_p50']:.2f} |"
                f" {ratio50} | {row['baseline_p99']:.2f} | {row['optimized_p99']:.2f} |"
                f" {ratio99} | {'-' if bsql is None else f'{bsql:.1f}'} |"
                f" {'-' if osql is None else f'{osql:.1f}'} |"
            )
        lines.append("")
    return "\n".join(lines)


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for label in ("optimized", "baseline"):
        sweep = result.get(label)
        if not sweep or not sweep["steps"]:
            continue
        rates = [s["rate"] for s in sweep["steps"]]
        for key, style in (("p50", "--"), ("p99", "-")):
            values = [s["latency_ms"][key] for s in sweep["steps"]]
            axes.plot(rates, values, style, marker="o", label=f"{label} {key}")
    axes.set_xlabel("offered rate (req/s)")
    axes.set_ylabel("latency (ms, from intended send time)")
    axes.set_yscale("log")
    axes.grid(visible=True, which="both", alpha=0.3)
    axes.legend()
    axes.set_title(f"nova bench {result['command']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and, for a sweep, ``latency.png``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md"]
    paths[0].write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    paths[1].write_text(markdown(result) + "\n")
    if "optimized" in result:
        paths.append(out_dir / "latency.png")
        _plot(result, paths[2])
    return paths

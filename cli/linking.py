"""Rendering of what cross-camera linking chose and how close it came to its ceiling: the linking lines of the
``reid track CAMERAS_DIR`` summary and the ceiling table of ``reid eval mtmc``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def render_ceiling(console: Any, ceiling: Any) -> None:
    """Achieved IDF1 beside the ceiling of perfect linking, overall and per camera pair."""
    from rich.table import Table

    table = Table(title=f"linking ceiling: perfect linking of the same tracklets ({ceiling.tracklets} tracklets: "
                        f"{ceiling.source}, {ceiling.false_tracklets} matching no true vehicle)")
    for col in ("cameras", "IDF1", "ceiling", "achieved / ceiling"):
        table.add_column(col, justify="left" if col == "cameras" else "right")
    table.add_row("all cameras", _percent(ceiling.achieved), _percent(ceiling.ceiling), _percent(ceiling.ratio),
                  style="bold")
    for pair in ceiling.pairs:
        table.add_row(f"{pair.a} + {pair.b}", _percent(pair.achieved), _percent(pair.ceiling), _percent(pair.ratio))
    console.print(table)
    gap_tracking = 1.0 - ceiling.ceiling
    gap_linking = ceiling.ceiling - ceiling.achieved
    where = "linking" if gap_linking > gap_tracking else "single-camera tracking"
    console.print(f"tracking leaves {100 * gap_tracking:.1f} points of IDF1, linking {100 * gap_linking:.1f}: "
                  f"improve {where} first")


def render_linking(console: Any, linking: dict[str, Any] | None, learned: Path | None) -> None:
    """The threshold linking used (and where it came from) and the travel windows, from ``identities.json``."""
    if not linking:
        return
    th = linking["threshold"]
    if th["source"] == "self":
        why = (f"self-calibrated: median of {th['matches']} confident cross-camera matches, "
               f"{th['match_median']:.3f}, never below {th['floor']:.3f}, the similarity "
               f"{100 * th['false_match_rate']:g} % of {th['pairs']} pairs of tracklets one camera saw at the same "
               f"time reach ({th['cameras']} cameras)")
    elif th["source"] == "fallback":
        why = (f"fallback: {th['pairs']} pairs of tracklets one camera saw at the same time and {th['matches']} "
               "confident matches are too few to calibrate on (set --link-threshold or calibration_min_pairs)")
    else:
        why = "given"
    bias = "camera bias removed, " if linking.get("camera_bias") else ""
    console.print(f"linking threshold {th['threshold']:.3f} ({bias}{why})")
    travel = linking.get("travel", {})
    links = travel.get("links", [])
    if travel.get("source") == "learned":
        windows = ", ".join(f"{w['a']}-{w['b']} {w['lo']:.1f}-{w['hi']:.1f} s" for w in links) or "none"
        rounds = f"{travel['rounds']} round" + ("s" if travel["rounds"] != 1 else "")
        console.print(f"travel windows learned from the footage ({rounds}, soft prior): {windows}"
                      + (f"; written to {learned}" if learned is not None else ""))
    elif travel.get("source") == "topology":
        console.print(f"travel windows from cameras.yaml (hard, +{travel.get('slack', 0):g} s slack, routes may "
                      f"pass {travel.get('skip', 0)} unseen camera(s))")

"""``report.html``: one self-contained page per run, readable from disk without a server.

A row per global identity shows its crops from each camera in time order, and an inline SVG timeline shows
when each camera saw which identity. Crops are embedded as small base64 JPEG thumbnails, so the page can be
mailed or archived alone. The input is the ``identities.json`` document the camera-folder runner writes.
"""

from __future__ import annotations

import base64
import colorsys
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reid.io import atomic_write_text

THUMB_HEIGHT = 72
CROPS_PER_SIGHTING = 2


def _colour(gid: int) -> str:
    hue = (gid * 0.61803398875) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.85)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def thumbnail_data_uri(path: Path, height: int = THUMB_HEIGHT) -> str | None:
    """A ``data:image/jpeg;base64,...`` URI of the image at ``path`` scaled to ``height``; None if unreadable."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    h, w = image.shape[:2]
    width = max(1, round(w * height / max(h, 1)))
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _fmt_time(t: float) -> str:
    minutes, seconds = divmod(max(0.0, float(t)), 60.0)
    return f"{int(minutes)}:{seconds:05.2f}"


def _timeline_svg(doc: dict[str, Any]) -> str:
    cameras = sorted(doc.get("cameras", {})) or sorted(
        {s["camera"] for ident in doc["identities"] for s in ident["sightings"]})
    spans = [(s["t_start"], s["t_end"]) for ident in doc["identities"] for s in ident["sightings"]]
    t0 = min((a for a, _ in spans), default=0.0)
    t1 = max((b for _, b in spans), default=1.0)
    for info in doc.get("cameras", {}).values():
        start = float(info.get("start_time", 0.0))
        t0 = min(t0, start)
        if info.get("duration"):
            t1 = max(t1, start + float(info["duration"]))
    t1 = max(t1, t0 + 1e-3)
    label_w, width, lane_h = 110, 900, 26
    height = lane_h * len(cameras) + 30
    lane = {c: i for i, c in enumerate(cameras)}

    def x(t: float) -> float:
        return label_w + (width - label_w - 10) * (t - t0) / (t1 - t0)

    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="camera timeline">']
    for cam, i in lane.items():
        y = i * lane_h
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{width - label_w - 10}" height="{lane_h - 4}" '
                     f'fill="#f2f2f2"/>')
        parts.append(f'<text x="4" y="{y + lane_h * 0.65:.1f}" font-size="12">{html.escape(cam)}</text>')
    for ident in doc["identities"]:
        colour = _colour(ident["global_id"])
        for s in ident["sightings"]:
            if s["camera"] not in lane:
                continue
            y = lane[s["camera"]] * lane_h
            xa, xb = x(s["t_start"]), x(s["t_end"])
            tip = f'id {ident["global_id"]} · {s["camera"]} · {_fmt_time(s["t_start"])}–{_fmt_time(s["t_end"])}'
            parts.append(f'<rect class="sighting" data-gid="{ident["global_id"]}" x="{xa:.1f}" y="{y + 4}" '
                         f'width="{max(2.0, xb - xa):.1f}" height="{lane_h - 8}" fill="{colour}" opacity="0.85">'
                         f'<title>{html.escape(tip)}</title></rect>')
    axis_y = lane_h * len(cameras) + 16
    for k in range(6):
        t = t0 + (t1 - t0) * k / 5
        parts.append(f'<text x="{x(t):.1f}" y="{axis_y}" font-size="10" text-anchor="middle">{_fmt_time(t)}</text>')
    parts.append("</svg>")
    return "".join(parts)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} .summary{color:#555;margin-bottom:16px}
table.identities{border-collapse:collapse;width:100%} table.identities td{border-top:1px solid #ddd;padding:6px;
vertical-align:top} .gid{font-weight:600;white-space:nowrap} .swatch{display:inline-block;width:10px;height:10px;
border-radius:2px;margin-right:6px} .sighting-card{display:inline-block;margin:0 8px 6px 0;padding:4px;
border:1px solid #e3e3e3;border-radius:4px;font-size:11px;text-align:center} .sighting-card img{height:72px;
display:inline-block;margin:1px} .multi{color:#0a6;font-size:11px} .nocrop{display:inline-block;width:48px;
height:72px;background:#eee;line-height:72px;color:#999}
"""


def render_report(doc: dict[str, Any], base_dir: str | Path | None = None, title: str = "reid multi-camera report",
                  summary: dict[str, Any] | None = None, progress: Callable[..., None] | None = None) -> str:
    """The report page for an ``identities.json`` document; crop paths are resolved against ``base_dir``."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    identities = sorted(doc.get("identities", []), key=lambda i: i["global_id"])
    cams = sorted({s["camera"] for i in identities for s in i["sightings"]})
    multi = sum(1 for i in identities if len({s["camera"] for s in i["sightings"]}) > 1)
    info = {"identities": len(identities), "seen in 2+ cameras": multi, "cameras": len(doc.get("cameras", {}) or cams)}
    info.update(summary or {})
    summary_text = " · ".join(f"{html.escape(str(k))}: {html.escape(_fmt_value(v))}" for k, v in info.items())
    rows = []
    for done, ident in enumerate(identities):
        gid = int(ident["global_id"])
        sightings = sorted(ident["sightings"], key=lambda s: (s["t_start"], s["camera"]))
        cameras = sorted({s["camera"] for s in sightings})
        cards = []
        for s in sightings:
            imgs = []
            for crop in list(s.get("crops", []))[:CROPS_PER_SIGHTING]:
                path = Path(crop)
                uri = thumbnail_data_uri(path if path.is_absolute() else base / path)
                if uri is not None:
                    imgs.append(f'<img src="{uri}" alt="id {gid} in {html.escape(s["camera"])}">')
            if not imgs:
                imgs.append('<span class="nocrop">no crop</span>')
            cards.append(
                f'<div class="sighting-card" data-camera="{html.escape(s["camera"])}">{"".join(imgs)}<br>'
                f'{html.escape(s["camera"])} · {_fmt_time(s["t_start"])}–{_fmt_time(s["t_end"])}</div>')
        badge = f'<div class="multi">{len(cameras)} cameras</div>' if len(cameras) > 1 else ""
        rows.append(f'<tr class="identity" id="id-{gid}" data-gid="{gid}"><td class="gid"><span class="swatch" '
                    f'style="background:{_colour(gid)}"></span>id {gid}{badge}</td><td>{"".join(cards)}</td></tr>')
        if progress is not None:
            progress(done + 1, len(identities), stage="report")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class=\"summary\">{summary_text}</div>"
        f"<h2>Timeline</h2>{_timeline_svg(doc)}"
        f"<h2>Identities</h2><table class=\"identities\"><tbody>{''.join(rows)}</tbody></table>"
        "</body></html>\n"
    )


def _fmt_value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_report(path: str | Path, doc: dict[str, Any], base_dir: str | Path | None = None, **kwargs: Any) -> Path:
    """Render the report of ``doc`` and write it atomically to ``path``."""
    path = Path(path)
    atomic_write_text(path, render_report(doc, base_dir=base_dir if base_dir is not None else path.parent, **kwargs))
    return path

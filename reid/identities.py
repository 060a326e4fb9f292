"""The identities list of ``identities.json``, shared by camera-folder runs and live runs.

Both documents hold, per global id, its sightings in time order, the cameras it was seen in and its time span,
so that the report, ``reid eval mtmc`` and users' scripts read one layout whatever wrote it.
"""

from __future__ import annotations

from typing import Any


def identity_entries(by_id: dict[int, list[dict[str, Any]]], known: set[int]) -> list[dict[str, Any]]:
    """One entry per global id (in id order) from its sightings (dicts with camera, track_id, t_start, t_end)."""
    identities = []
    for gid in sorted(by_id):
        sightings = sorted(by_id[gid], key=lambda s: (s["t_start"], s["camera"], s["track_id"]))
        identities.append({"global_id": gid, "known_before": gid in known,
                           "cameras": sorted({s["camera"] for s in sightings}),
                           "first_time": sightings[0]["t_start"], "last_time": max(s["t_end"] for s in sightings),
                           "sightings": sightings})
    return identities

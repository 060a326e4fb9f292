"""``reid gallery relink``: link a stored time range again, in batch mode, for the best offline answer.

A live run gives each tracklet its id at once and never changes it. Afterwards, with every tracklet of a period
at hand, constrained average-linkage clustering (:func:`reid.gallery.linker.link_batch`) usually does better.
Tracklets that overlap ``[since, until]`` are linked again; tracklets outside the range keep their identities
and enter as fixed seeds (new members may join them, two seeds never merge), so identities outside the range
never change id, and a newly formed identity takes the id of the stored identity it holds most of, so relinking
what did not change changes nothing (and writes nothing). The answer is written in one transaction; identities
left without a tracklet are removed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reid.errors import GalleryError, InputError
from reid.gallery.config import LinkConfig


@dataclass
class RelinkResult:
    """What relinking changed."""

    tracklets: int  # tracklets in the range
    changed: int  # of which got another identity
    identities_before: int  # distinct identities of the range before
    identities_after: int  # ... and after
    new_identities: int
    run: str  # the key of the relinking in the gallery's runs; "" when nothing changed (nothing was written)


def relink(gallery_dir: str | Path, cfg: LinkConfig | None = None, topology: Any = None,
           since: float | None = None, until: float | None = None) -> RelinkResult:
    """Link the gallery's tracklets overlapping ``[since, until]`` (seconds) again, in batch mode."""
    from reid.gallery.gallery import Gallery
    from reid.gallery.linker import Sighting, link

    cfg = (cfg or LinkConfig()).model_copy(update={"mode": "batch"})
    if since is not None and until is not None and since > until:
        raise InputError(f"--since {since} is after --until {until}")
    with Gallery.open(gallery_dir, create=False, lock=True) as gallery:
        from reid.live.store import live_writer

        writer = live_writer(gallery.store)
        if writer is not None:
            raise GalleryError(f"gallery {gallery_dir} is being written by a live run (process {writer.get('pid')} "
                               f"on {writer.get('host')})", "stop reid live first, then relink")
        stored = gallery.tracklets(with_features=True)
        inside = [t for t in stored if (since is None or t.t_end >= since) and (until is None or t.t_start <= until)]
        if not inside:
            raise InputError(f"gallery {gallery_dir} holds no tracklet between {since} and {until}",
                             "check --since and --until (seconds on the gallery's clock)")
        chosen = {t.row_id for t in inside}
        keep = [t for t in stored if t.row_id not in chosen]
        fixed = {t.identity for t in keep}
        sightings = [Sighting(t.camera, t.t_start, t.t_end, t.feature, key=t.row_id, identity=t.identity,
                              num_boxes=t.num_boxes) for t in keep]
        sightings += [Sighting(t.camera, t.t_start, t.t_end, t.feature, key=t.row_id, num_boxes=t.num_boxes)
                      for t in inside]
        result = link(sightings, cfg, topology, next_id=gallery.next_identity())
        new_ids = _keep_old_ids(inside, result.identities[len(keep):], fixed)
        mapping = {t.row_id: gid for t, gid in zip(inside, new_ids, strict=True)}
        key = f"relink-{uuid.uuid4().hex}"
        created = sorted({g for g in new_ids if g not in fixed and g not in {t.identity for t in inside}})
        if created or any(mapping[t.row_id] != t.identity for t in inside):
            changed = gallery.store.reassign(key, f"relink {since}..{until}", mapping, created)
        else:
            changed, key = 0, ""  # the same answer as stored: nothing to write, no run to record
    return RelinkResult(tracklets=len(inside), changed=changed,
                        identities_before=len({t.identity for t in inside}),
                        identities_after=len(set(new_ids)), new_identities=len(created), run=key)


def _keep_old_ids(inside: list[Any], linked: list[int], fixed: set[int]) -> list[int]:
    """The linked ids of the range's tracklets, with each newly formed identity under the old id of the identity
    it holds most of (each old id once, largest overlaps first): relinking what did not change changes no id,
    and an identity that only gained or lost a few tracklets keeps its id. Seeds (``fixed``) keep theirs."""
    from collections import Counter

    overlap = Counter((g, t.identity) for t, g in zip(inside, linked, strict=True)
                      if g not in fixed and t.identity not in fixed)
    renamed: dict[int, int] = {}
    used: set[int] = set()
    for (group, old), _ in sorted(overlap.items(), key=lambda item: (-item[1], item[0])):
        if group not in renamed and old not in used:
            renamed[group] = old
            used.add(old)
    return [renamed.get(g, g) for g in linked]

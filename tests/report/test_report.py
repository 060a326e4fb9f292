"""The HTML report: self-contained, one row per identity, crops in time order, renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reid.report.html import write_report


def make_doc(tmp_path: Path, identities: int = 5) -> dict:
    import cv2

    crops = tmp_path / "crops"
    crops.mkdir()
    rng = np.random.default_rng(0)
    idents = []
    for gid in range(1, identities + 1):
        sightings = []
        for cam_i, cam in enumerate(["north", "south"][: 1 + gid % 2]):
            path = crops / f"{gid}_{cam}.jpg"
            cv2.imwrite(str(path), rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
            t = 10.0 * gid + 30 * cam_i
            sightings.append({"camera": cam, "track_id": gid, "t_start": t, "t_end": t + 4,
                              "crops": [f"crops/{path.name}"]})
        idents.append({"global_id": gid, "sightings": list(reversed(sightings))})
    return {"cameras": {"north": {"start_time": 0.0}, "south": {"start_time": 0.0}}, "identities": idents}


def test_report_is_self_contained_with_a_row_per_identity(tmp_path: Path) -> None:
    doc = make_doc(tmp_path)
    out = write_report(tmp_path / "report.html", doc, summary={"cross-camera IDF1": 0.875})
    text = out.read_text()
    assert len(re.findall(r'<tr class="identity"', text)) == 5
    assert text.count("data:image/jpeg;base64,") == 8  # every crop embedded
    assert "crops/" not in text.split("<h2>Identities")[1].replace('alt="', "")  # no file links
    assert "<svg" in text and text.count('class="sighting"') == 8
    assert "0.875" in text
    # identity 1 is seen by north at 10 s, then by south at 40 s: its cards are in time order
    row = re.search(r'<tr class="identity" id="id-1".*?</tr>', text).group(0)
    assert row.index('data-camera="north"') < row.index('data-camera="south"')


def test_missing_crop_shows_placeholder(tmp_path: Path) -> None:
    doc = {"cameras": {}, "identities": [{"global_id": 9, "sightings": [
        {"camera": "x", "t_start": 0, "t_end": 1, "crops": ["gone.jpg"]}]}]}
    text = write_report(tmp_path / "r.html", doc).read_text()
    assert "no crop" in text and 'id="id-9"' in text


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install -y chromium); .ci/run installs it")
    doc = make_doc(tmp_path, identities=7)
    out = write_report(tmp_path / "report.html", doc)
    proc = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", out.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert len(re.findall(r'<tr class="identity"', dom)) == 7
    assert len(re.findall(r"<img ", dom)) == 11

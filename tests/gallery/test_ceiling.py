"""The linking ceiling: the IDF1 of the run's own tracklets relabelled with the truth, beside what was achieved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reid.errors import InputError
from reid.evaluation.mtmc import evaluate_mtmc
from reid.gallery.ceiling import linking_ceiling, relabelled_idf1

# three vehicles crossing cameras c1, c2 and c3 for 30 frames each; the tracker broke vehicle 2 into two
# tracks in c2 and added a false track in c3; the linker then gave vehicle 3 in c3 vehicle 1's identity
VEHICLES = (1, 2, 3)


def box(vid: int, f: int) -> tuple[int, int, int, int]:
    return 20 + 180 * (vid - 1) + 2 * f, 40, 60, 40


def write_run(root: Path) -> tuple[Path, Path, dict[str, dict[int, int]]]:
    """A camera-folder run (local-id tracklets + global-id mot/) and its ground truth; returns the truth
    mapping of each local track, written out by hand."""
    gt, run = root / "gt", root / "run"
    gt.mkdir(parents=True)
    truth: dict[str, dict[int, int]] = {}
    linked: dict[str, dict[int, int]] = {}
    for cam in ("c1", "c2", "c3"):
        g, local = [], []
        truth[cam], linked[cam] = {}, {}
        for f in range(1, 31):
            for vid in VEHICLES:
                x, y, w, h = box(vid, f)
                g.append(f"{f},{vid},{x},{y},{w},{h},1,-1,-1,-1")
                track = 10 * vid + (1 if cam == "c2" and vid == 2 and f > 15 else 0)  # a broken track
                local.append(f"{f},{track},{x + 1},{y + 1},{w},{h},0.9,-1,-1,-1")
                truth[cam][track] = vid
                # c3's vehicle 3 is not linked to its sightings in c1 and c2 (an id no other box has: a linker
                # never gives one id to two boxes of one frame, so a "wrong link" here is a missed one)
                linked[cam][track] = 150 if cam == "c3" and vid == 3 else 100 + vid
                if cam == "c2" and vid == 2 and f > 15:
                    linked[cam][track] = 200  # the broken piece was not joined back
            if cam == "c3" and f <= 10:
                local.append(f"{f},99,400,300,50,30,0.5,-1,-1,-1")  # a false track: no vehicle there
                linked[cam][99] = 300
        (gt / f"{cam}.txt").write_text("\n".join(g) + "\n")
        folder = run / "cameras" / cam / "mot"
        folder.mkdir(parents=True)
        (folder / f"{cam}.txt").write_text("\n".join(local) + "\n")
        (run / "mot").mkdir(exist_ok=True)
        rows = [line.split(",") for line in local]
        (run / "mot" / f"{cam}.txt").write_text(
            "\n".join(",".join([r[0], str(linked[cam][int(r[1])])] + r[2:]) for r in rows) + "\n")
    return run, gt, truth


def test_ceiling_equals_the_idf1_of_the_truth_relabelled_tracklets(tmp_path: Path) -> None:
    run, gt, truth = write_run(tmp_path)
    # by hand: every tracklet relabelled with its vehicle, the false track with an id no vehicle has
    relabelled = tmp_path / "relabelled"
    relabelled.mkdir()
    for cam in ("c1", "c2", "c3"):
        lines = (run / "cameras" / cam / "mot" / f"{cam}.txt").read_text().splitlines()
        out = []
        for line in lines:
            parts = line.split(",")
            parts[1] = str(truth[cam].get(int(parts[1]), 999))
            out.append(",".join(parts))
        (relabelled / f"{cam}.txt").write_text("\n".join(out) + "\n")
    expected = evaluate_mtmc(relabelled, gt).idf1
    ceiling = linking_ceiling(run / "mot", gt)
    assert ceiling.source == "run tracklets"
    assert ceiling.ceiling == pytest.approx(expected)
    assert ceiling.achieved == pytest.approx(evaluate_mtmc(run / "mot", gt).idf1)
    assert ceiling.achieved < ceiling.ceiling < 1.0  # the wrong link costs linking, the false track tracking
    assert ceiling.tracklets == 3 + 4 + 4 and ceiling.false_tracklets == 1
    pairs = {(p.a, p.b): p for p in ceiling.pairs}
    assert sorted(pairs) == [("c1", "c2"), ("c1", "c3"), ("c2", "c3")]
    # c1 + c2 holds no wrong link, only the unjoined piece, which perfect linking joins
    assert pairs[("c1", "c2")].ceiling == pytest.approx(1.0)
    assert pairs[("c1", "c3")].achieved < pairs[("c1", "c3")].ceiling
    tracks = {cam: run / "cameras" / cam / "mot" / f"{cam}.txt" for cam in ("c1", "c2", "c3")}
    # the same relabelling through the function benchmarks use (the unmapped false track keeps its own id)
    assert relabelled_idf1(tracks, truth, gt) == pytest.approx(expected)


def test_without_a_run_each_predicted_identity_is_a_tracklet(tmp_path: Path) -> None:
    run, gt, _ = write_run(tmp_path)
    alone = tmp_path / "alone"
    alone.mkdir()
    for p in (run / "mot").glob("*.txt"):
        (alone / p.name).write_text(p.read_text())
    ceiling = linking_ceiling(alone, gt)
    assert ceiling.source == "predicted identities"
    assert ceiling.achieved <= ceiling.ceiling
    with pytest.raises(InputError, match="does not exist"):
        linking_ceiling(tmp_path / "missing", gt)


def test_eval_mtmc_prints_the_ceiling_and_saves_it(tmp_path: Path) -> None:
    from reid_cli.main import app

    run, gt, _ = write_run(tmp_path)
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["eval", "mtmc", "--pred", str(run / "mot"), "--gt", str(gt), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "linking ceiling" in result.output and "c1 + c3" in result.output
    doc = json.loads(out.read_text())
    assert doc["ceiling"]["ceiling"] > doc["ceiling"]["achieved"] == pytest.approx(doc["idf1"])

"""``reid eval``: results a user reads (table, JSON), and one clear line with exit code 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from reid.data.features import FeatureSet, save_features
from reid.types import ImageRecord


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((16, 16, 3), value % 255, np.uint8))


def _features(records: list[ImageRecord], out: Path, noise: float = 0.05, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    labels = np.array([r.label for r in records])
    uniq, inverse = np.unique(labels, return_inverse=True)
    centers = rng.normal(size=(len(uniq), 8))
    feats = centers[inverse] + noise * rng.normal(size=(len(records), 8))
    return save_features(out, FeatureSet.from_records(feats.astype(np.float32), records))


@pytest.fixture()
def vehicleid(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "VehicleID"
    lines = []
    for vid in (11, 12, 13, 14):
        for k in range(3):
            name = f"{vid}{k:03d}"
            _image(root / "image" / f"{name}.jpg", vid * 7 + k)
            lines.append(f"{name} {vid}\n")
    (root / "train_test_split").mkdir()
    (root / "train_test_split" / "test_list_800.txt").write_text("".join(lines))
    from reid.data.vehicleid import read_vehicleid

    return root, _features(read_vehicleid(root, "small"), tmp_path / "feats.npz")


def run_main(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run the real entry point (with its error boundary) in-process."""
    from reid_cli import main

    monkeypatch.setattr(sys, "argv", ["reid", *args])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_vehicleid_both_protocols_table_and_json(vehicleid, tmp_path, monkeypatch, capsys) -> None:
    root, feats = vehicleid
    out = tmp_path / "res.json"
    code, stdout, err = run_main(
        [
            "eval",
            "vehicleid",
            "--root",
            str(root),
            "--split",
            "small",
            "--features",
            str(feats),
            "--json",
            str(out),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    assert "published" in stdout and "95.5" in stdout and "97.8" in stdout and "PNP paper" in stdout
    # Each protocol is compared with numbers published for it: fast-reid's for the gallery protocol.
    assert "86.6" in stdout and "97.9" in stdout and "fast-reid" in stdout
    result = json.loads(out.read_text())
    assert result["dataset"] == "vehicleid" and result["split"] == "small"
    assert result["num_images"] == 12 and result["num_ids"] == 4
    paper, gallery = result["protocols"]["paper"], result["protocols"]["gallery"]
    assert paper["rank1"] == 100.0 and paper["rank5"] == 100.0 and paper["mAP"] == 100.0
    assert gallery["repeats"] == 10 and gallery["rank1"] == {"mean": 100.0, "std": 0.0}
    assert set(gallery["mAP"]) == {"mean", "std"}


def test_vehicleid_paper_protocol_matches_library(vehicleid, tmp_path, monkeypatch, capsys) -> None:
    from reid.data.features import load_features
    from reid.data.vehicleid import read_vehicleid
    from reid.evaluation.protocols import paper_protocol

    root, _ = vehicleid
    records = read_vehicleid(root, "small")
    feats = _features(records, tmp_path / "noisy.npz", noise=2.0, seed=3)
    out = tmp_path / "res.json"
    args = ["eval", "vehicleid", "--root", str(root), "--split", "small", "--features", str(feats)]
    code, _, err = run_main([*args, "--protocol", "paper", "--json", str(out)], monkeypatch, capsys)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert set(result["protocols"]) == {"paper"}
    f = load_features(feats).align(records)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    expected = paper_protocol(f, np.array([r.label for r in records]))
    for key in ("rank1", "rank5", "mAP"):
        assert result["protocols"]["paper"][key] == pytest.approx(expected[key])


def test_bad_split_lists_valid_ones(vehicleid, monkeypatch, capsys) -> None:
    root, feats = vehicleid
    args = ["eval", "vehicleid", "--root", str(root), "--split", "huge", "--features", str(feats)]
    line = _one_line_error(*run_main(args, monkeypatch, capsys)[::2])
    assert "huge" in line and "small, medium, large" in line


def test_missing_list_names_expected_path(vehicleid, monkeypatch, capsys) -> None:
    root, feats = vehicleid
    args = ["eval", "vehicleid", "--root", str(root), "--split", "large", "--features", str(feats)]
    line = _one_line_error(*run_main(args, monkeypatch, capsys)[::2])
    assert "test_list_2400.txt" in line


def test_missing_image_is_error_unless_skipped(vehicleid, tmp_path, monkeypatch, capsys) -> None:
    root, feats = vehicleid
    (root / "image" / "12001.jpg").unlink()
    args = ["eval", "vehicleid", "--root", str(root), "--split", "small", "--features", str(feats)]
    line = _one_line_error(*run_main(args, monkeypatch, capsys)[::2])
    assert "12001.jpg" in line and "--skip-missing" in line
    out = tmp_path / "r.json"
    code, _, err = run_main([*args, "--skip-missing", "--json", str(out)], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out.read_text())["num_missing_skipped"] == 1


def test_features_not_covering_list(vehicleid, tmp_path, monkeypatch, capsys) -> None:
    from reid.data.vehicleid import read_vehicleid

    root, _ = vehicleid
    partial = _features(read_vehicleid(root, "small")[:7], tmp_path / "partial.npz")
    args = ["eval", "vehicleid", "--root", str(root), "--split", "small", "--features", str(partial)]
    line = _one_line_error(*run_main(args, monkeypatch, capsys)[::2])
    assert "no row for 5 of 12" in line


@pytest.mark.parametrize("folder", ["vehicleid", "folder"])
def test_features_with_zero_length_or_nonfinite_rows_are_refused(vehicleid, tmp_path, monkeypatch, capsys, folder):
    from reid.data.features import load_features

    root, feats = vehicleid
    fs = load_features(feats)
    fs.features[[1, 4]] = 0.0
    fs.features[7, 2] = np.nan
    bad = save_features(tmp_path / "bad.npz", fs)
    if folder == "vehicleid":
        args = ["eval", "vehicleid", "--root", str(root), "--split", "small", "--features", str(bad)]
    else:
        args = ["eval", "folder", "--query", str(root / "q"), "--gallery", str(root / "g"), "--features", str(bad)]
        for i, path in enumerate(fs.paths):
            _image(root / ("q" if i % 3 == 0 else "g") / str(fs.labels[i]) / Path(path).name, i)
    line = _one_line_error(*run_main(args, monkeypatch, capsys)[::2])
    assert "2 zero-length and 1 NaN/inf rows of 12" in line and str(bad) in line, line


def test_needs_weights_or_features_and_vis_dir(vehicleid, monkeypatch, capsys) -> None:
    root, feats = vehicleid
    line = _one_line_error(*run_main(["eval", "vehicleid", "--root", str(root)], monkeypatch, capsys)[::2])
    assert "--weights" in line and "--features" in line
    args = [
        "eval",
        "vehicleid",
        "--root",
        str(root),
        "--split",
        "small",
        "--features",
        str(feats),
        "--visualize",
        "2",
    ]
    assert "--vis-dir" in _one_line_error(*run_main(args, monkeypatch, capsys)[::2])


def test_visualize_writes_worst_queries(vehicleid, tmp_path, monkeypatch, capsys) -> None:
    root, feats = vehicleid
    vis = tmp_path / "vis"
    args = ["eval", "vehicleid", "--root", str(root), "--split", "small", "--features", str(feats)]
    code, _, err = run_main([*args, "--visualize", "3", "--vis-dir", str(vis)], monkeypatch, capsys)
    assert code == 0, err
    assert len(list(vis.glob("*.png"))) == 3


def _veri(tmp_path: Path) -> Path:
    root = tmp_path / "VeRi"
    query = ["0001_c001_1_0.jpg", "0002_c002_1_0.jpg", "0009_c001_1_0.jpg"]
    gallery = [
        "0001_c001_2_0.jpg",
        "0001_c003_1_0.jpg",
        "0002_c001_1_0.jpg",
        "0002_c002_2_0.jpg",
        "0003_c001_1_0.jpg",
    ]
    for i, name in enumerate(query):
        _image(root / "image_query" / name, i)
    for i, name in enumerate(gallery):
        _image(root / "image_test" / name, 50 + i)
    return root


def test_veri_excludes_and_counts_queries_without_match(tmp_path, monkeypatch, capsys) -> None:
    from reid.data.veri import read_veri

    root = _veri(tmp_path)
    feats = _features(read_veri(root, "query") + read_veri(root, "gallery"), tmp_path / "f.npz")
    out = tmp_path / "veri.json"
    args = ["eval", "veri", "--root", str(root), "--features", str(feats), "--json", str(out)]
    code, stdout, err = run_main(args, monkeypatch, capsys)
    assert code == 0, err
    result = json.loads(out.read_text())
    veri = result["protocols"]["veri"]
    # vehicle 9 has no gallery image: excluded and counted; vehicle 1's same-camera image is removed, so its
    # correct match is 0001_c003 and features of one identity are near-identical: perfect scores.
    assert veri["num_excluded"] == 1 and veri["num_queries"] == 2
    assert veri["rank1"] == 100.0 and veri["mAP"] == 100.0 and veri["mINP"] == 100.0
    assert result["excluded_queries"][0].endswith("0009_c001_1_0.jpg")
    assert "excluded" in stdout


def test_folder_and_csv(tmp_path, monkeypatch, capsys) -> None:
    for part, count in (("query", 1), ("gallery", 2)):
        for ident in ("car_a", "car_b"):
            for k in range(count):
                _image(tmp_path / part / ident / f"{k}.jpg", k)
    from reid.data.folder import read_folder

    records = read_folder(tmp_path / "query") + read_folder(tmp_path / "gallery")
    feats = _features(records, tmp_path / "f.npz")
    out = tmp_path / "folder.json"
    args = ["eval", "folder", "--query", str(tmp_path / "query"), "--gallery", str(tmp_path / "gallery")]
    code, _, err = run_main([*args, "--features", str(feats), "--json", str(out)], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out.read_text())["protocols"]["veri"]["rank1"] == 100.0
    rows = [f"{r.path},{r.label},,{'query' if '/query/' in r.path else 'gallery'}\n" for r in records]
    (tmp_path / "list.csv").write_text("".join(rows))
    code, _, err = run_main(
        ["eval", "folder", "--csv", str(tmp_path / "list.csv"), "--features", str(feats)], monkeypatch, capsys
    )
    assert code == 0, err
    (tmp_path / "empty").mkdir()
    args = ["eval", "folder", "--query", str(tmp_path / "empty"), "--gallery", str(tmp_path / "gallery")]
    line = _one_line_error(*run_main([*args, "--features", str(feats)], monkeypatch, capsys)[::2])
    assert "no identity subfolders" in line


def test_subprocess_exit_code_and_help() -> None:
    help_out = subprocess.run(
        [sys.executable, "-m", "reid_cli.main", "eval", "vehicleid", "--help"], capture_output=True, text=True
    )
    assert help_out.returncode == 0 and "--protocol" in help_out.stdout and "--rerank" in help_out.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "reid_cli.main",
            "eval",
            "veri",
            "--root",
            "/nonexistent/VeRi",
            "--features",
            "x.npz",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "/nonexistent/VeRi" in bad.stderr


@pytest.mark.slow
def test_weights_path_embeds_with_a_random_network(vehicleid, tmp_path, monkeypatch, capsys) -> None:
    import torch

    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path / "cache"))
    cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(64, 64), embedding_dim=32)
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "best.pt", make_checkpoint(build_model(cfg).eval(), cfg, meta={}))
    root, _ = vehicleid
    out = tmp_path / "w.json"
    args = ["eval", "vehicleid", "--root", str(root), "--split", "small", "--weights", str(ckpt)]
    code, _, err = run_main(
        [*args, "--num-workers", "0", "--repeats", "2", "--json", str(out)], monkeypatch, capsys
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    assert 0.0 <= result["protocols"]["paper"]["mAP"] <= 100.0
    assert result["protocols"]["gallery"]["repeats"] == 2


def test_rerank_and_gallery_only_with_pictures(vehicleid, tmp_path, monkeypatch, capsys) -> None:
    root, feats = vehicleid
    out, vis = tmp_path / "rr.json", tmp_path / "vis"
    args = ["eval", "vehicleid", "--root", str(root), "--split", "small", "--features", str(feats)]
    extra = [
        "--protocol",
        "gallery",
        "--repeats",
        "3",
        "--rerank",
        "--k1",
        "4",
        "--k2",
        "2",
        "--lambda",
        "0.5",
    ]
    code, _, err = run_main(
        [*args, *extra, "--json", str(out), "--visualize", "2", "--vis-dir", str(vis)], monkeypatch, capsys
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["rerank"] == {"k1": 4, "k2": 2, "lambda": 0.5}
    assert set(result["protocols"]) == {"gallery"} and result["protocols"]["gallery"]["repeats"] == 3
    assert len(list(vis.glob("*.png"))) == 2
    # a non-empty picture folder is refused unless --overwrite
    code, _, err = run_main([*args, "--visualize", "1", "--vis-dir", str(vis)], monkeypatch, capsys)
    assert "--overwrite" in _one_line_error(code, err)

"""``reid weights import fastreid`` and ``reid weights list``: what a user sees, and what the list records."""

from __future__ import annotations

import json
import sys

import pytest
import torch


def run_main(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run the real entry point (with its error boundary) in-process."""
    from reid_cli import common, main

    monkeypatch.setattr(common.console, "width", 250)  # a wide terminal: table cells stay on one line
    monkeypatch.setattr(sys, "argv", ["reid", *args])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("REID_CACHE_DIR", str(folder))
    return folder


def test_import_then_list_then_embed(
    fastreid_like, save_fastreid, cache, tmp_path, monkeypatch, capsys
) -> None:
    state, _ = fastreid_like()
    source = save_fastreid(state, "veri_sbs_R50-ibn.pth")
    out = tmp_path / "veri_sbs.pt"
    code, stdout, err = run_main(
        ["weights", "import", "fastreid", str(source), "--out", str(out)], monkeypatch, capsys
    )
    assert code == 0, err
    assert f"wrote {out}" in stdout and "fastreid_resnet50, IBN-a, non-local 0/2/3/0" in stdout
    assert "learned p = 3.4" in stdout and "1 ignored (heads.weight)" in stdout
    listing = json.loads((cache / "weights.json").read_text())
    assert [w["path"] for w in listing["weights"]] == [str(out.resolve())]

    code, stdout, err = run_main(["weights", "list", "--json"], monkeypatch, capsys)
    assert code == 0, err
    (entry,) = json.loads(stdout)
    assert entry["kind"] == "imported" and entry["input_size"] == [256, 256] and entry["dim"] == 2048
    assert entry["origin"].startswith("fast-reid veri_sbs_R50-ibn.pth (sha256 ") and entry["exists"]
    code, stdout, _ = run_main(["weights", "list"], monkeypatch, capsys)
    assert code == 0 and "veri_sbs.pt" in stdout and "256x256" in stdout

    # The imported file is a --weights like any other: reid embed runs it.
    import cv2
    import numpy as np

    crops = tmp_path / "crops" / "7"
    crops.mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(crops / f"{i}.png"), np.full((40, 30, 3), 40 * i, np.uint8))
    feats = tmp_path / "f.npz"
    code, _, err = run_main(
        [
            "embed",
            str(tmp_path / "crops"),
            "--weights",
            str(out),
            "--out",
            str(feats),
            "--device",
            "cpu",
            "--workers",
            "0",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    assert np.load(feats)["features"].shape == (2, 2048)

    # A file moved away since stays listed, marked missing.
    out.unlink()
    code, stdout, _ = run_main(["weights", "list"], monkeypatch, capsys)
    assert code == 0 and "missing" in stdout


def test_empty_list_says_where_it_lives(cache, monkeypatch, capsys) -> None:
    code, stdout, _ = run_main(["weights", "list"], monkeypatch, capsys)
    assert code == 0 and "no weights recorded" in stdout and "weights.json" in stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a checkpoint", "not a readable checkpoint"),
        (None, "no 'model' entry"),
    ],
)
def test_bad_input_is_one_line_exit_2(content, message, cache, tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "bad.pth"
    if content is None:
        torch.save({"state_dict": {}}, path)
    else:
        path.write_bytes(content)
    code, _, err = run_main(
        ["weights", "import", "fastreid", str(path), "--out", str(tmp_path / "m.pt")], monkeypatch, capsys
    )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0]
    assert not (tmp_path / "m.pt").exists() and not (cache / "weights.json").exists()


def test_damaged_list_is_a_clear_error_and_not_overwritten(cache, monkeypatch, capsys) -> None:
    cache.mkdir()
    (cache / "weights.json").write_text("{ torn")
    code, _, err = run_main(["weights", "list"], monkeypatch, capsys)
    assert code == 2 and "weights list" in err and "not readable" in err
    assert (cache / "weights.json").read_text() == "{ torn"

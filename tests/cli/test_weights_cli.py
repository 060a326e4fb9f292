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


_BAD_CONFIGS = {  # YAML text -> what the one line says
    "MODEL:\n  HEADS:\n    POOL_LAYER: [GeneralizedMeanPoolingP, x]\n":
        "MODEL.HEADS.POOL_LAYER must be a name such as GeneralizedMeanPoolingP, not a list of 2",
    "MODEL:\n  HEADS:\n    POOL_LAYER: 3\n": "MODEL.HEADS.POOL_LAYER must be a name .*not the number 3",
    "MODEL:\n  HEADS:\n    POOL_LAYER: {a: 1}\n": "MODEL.HEADS.POOL_LAYER must be a name .*not a mapping",
    "MODEL:\n  HEADS:\n    POOL_LAYER: null\n": "MODEL.HEADS.POOL_LAYER must be a name .*not null",
    "MODEL:\n  META_ARCHITECTURE: [Baseline]\n": "MODEL.META_ARCHITECTURE must be a name such as Baseline",
    "MODEL:\n  HEADS:\n    NAME: {x: 1}\n": "MODEL.HEADS.NAME must be a name such as EmbeddingHead",
    "MODEL:\n  BACKBONE:\n    NAME: 7\n": "MODEL.BACKBONE.NAME must be a name",
    "MODEL:\n  BACKBONE:\n    NORM: [BN]\n": "MODEL.BACKBONE.NORM must be a name such as BN",
    "MODEL:\n  BACKBONE:\n    DEPTH: [50x]\n": "MODEL.BACKBONE.DEPTH must be a name such as 50x",
    "MODEL:\n  BACKBONE:\n    LAST_STRIDE: one\n": "MODEL.BACKBONE.LAST_STRIDE must be a whole number .*the text 'one'",
    "MODEL:\n  BACKBONE:\n    WITH_IBN: 'False'\n": "MODEL.BACKBONE.WITH_IBN must be a flag such as true",
    "MODEL:\n  BACKBONE:\n    WITH_SE: [1]\n": "MODEL.BACKBONE.WITH_SE must be a flag",
    "MODEL:\n  HEADS:\n    EMBEDDING_DIM: [0]\n": "MODEL.HEADS.EMBEDDING_DIM must be a whole number",
    "MODEL:\n  HEADS:\n    WITH_BNNECK: null\n": "MODEL.HEADS.WITH_BNNECK must be a flag",
    "MODEL:\n  PIXEL_MEAN: 120\n": "MODEL.PIXEL_MEAN must be a list of three numbers",
    "MODEL:\n  PIXEL_STD: [a, b, c]\n": "MODEL.PIXEL_STD must be a list of three numbers",
    "INPUT:\n  SIZE_TEST: 256\n": "INPUT.SIZE_TEST must be a list of two whole numbers such as \\[256, 256\\]",
    "INPUT:\n  SIZE_TEST: [[256], 128]\n": "INPUT.SIZE_TEST must be a list of two whole numbers",
    "INPUT:\n  CROP:\n    ENABLED: {}\n": "INPUT.CROP.ENABLED must be a flag such as false, not a mapping",
    "INPUT:\n  CROP: [1]\n": "INPUT.CROP must be a mapping of settings, not a list of 1",
    "MODEL:\n  HEADS: [a, b]\n": "MODEL.HEADS must be a mapping of settings, not a list of 2",
    "MODEL: 5\n": "MODEL must be a mapping of settings, not the number 5",
    "_BASE_: [a.yml]\n": "_BASE_ must be the name of a YAML file .*not a list of 1",
}


@pytest.fixture(scope="module")
def fastreid_file(fastreid_like, tmp_path_factory):
    """One fast-reid checkpoint (the VeRi SBS layout) shared by the tests that only vary the config."""
    state, _ = fastreid_like()
    path = tmp_path_factory.mktemp("fastreid") / "veri_sbs.pth"
    torch.save({"model": state}, path)
    return path


@pytest.mark.parametrize("text", list(_BAD_CONFIGS), ids=range(len(_BAD_CONFIGS)))
def test_config_value_of_the_wrong_type_is_one_line_naming_key_and_file(
    text, fastreid_file, cache, tmp_path, monkeypatch, capsys
) -> None:
    source = fastreid_file
    config = tmp_path / "bad.yml"
    config.write_text(text)
    out = tmp_path / "m.pt"
    code, stdout, err = run_main(
        ["weights", "import", "fastreid", str(source), "--out", str(out), "--config", str(config)],
        monkeypatch, capsys,
    )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err + stdout, err
    assert str(config) in lines[0]
    assert __import__("re").search(_BAD_CONFIGS[text], lines[0]), lines[0]
    assert not out.exists() and not (cache / "weights.json").exists()


def test_a_wrong_type_in_a_base_file_names_the_base_file(fastreid_file, cache, tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "Base.yml").write_text("MODEL:\n  HEADS:\n    POOL_LAYER: [x]\n")
    (tmp_path / "top.yml").write_text("_BASE_: Base.yml\nINPUT:\n  SIZE_TEST: [256, 256]\n")
    code, _, err = run_main(["weights", "import", "fastreid", str(fastreid_file), "--out",
                             str(tmp_path / "m.pt"), "--config", str(tmp_path / "top.yml")], monkeypatch, capsys)
    assert code == 2 and f"fast-reid config {tmp_path / 'Base.yml'}: MODEL.HEADS.POOL_LAYER" in err, err
    assert not (tmp_path / "m.pt").exists()

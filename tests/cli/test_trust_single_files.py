"""Single output files (features, ONNX, CSV export, link YAML, AI City submission) never replace an input or a
file reid did not write; training, a folder of cameras and live runs refuse an --out that holds their inputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from synthetic import write_video  # noqa: E402

from reid.errors import OutputError  # noqa: E402
from reid.output_files import is_aic_submission, is_gallery_csv, is_link_yaml  # noqa: E402
from reid.outputs import check_output_file  # noqa: E402


def test_an_output_file_is_never_an_input_or_inside_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match="is the input"):
        check_output_file(data / "a.jpg", True, [data / "a.jpg"])
    with pytest.raises(OutputError, match="inside the input"):
        check_output_file(data / "feat.npz", True, [data])
    with pytest.raises(OutputError, match="is a folder"):
        check_output_file(data, True)


def test_an_existing_file_is_replaced_only_when_reid_wrote_it(tmp_path: Path) -> None:
    mine = tmp_path / "user.csv"
    mine.write_text("my,own,file\n")
    with pytest.raises(OutputError, match="already exists"):
        check_output_file(mine, False, is_ours=is_gallery_csv)
    with pytest.raises(OutputError, match="not a gallery export written by reid"):
        check_output_file(mine, True, is_ours=is_gallery_csv, what="gallery export")
    ours = tmp_path / "export.csv"
    from reid.output_files import CSV_HEADER

    ours.write_text(CSV_HEADER + "\n1,cam1,1,r,0,1,1,2,3,2,\n")
    assert check_output_file(ours, True, is_ours=is_gallery_csv) == ours


def test_the_recognisers_tell_our_files_from_others(tmp_path: Path) -> None:
    yaml_file = tmp_path / "link.yaml"
    yaml_file.write_text("# calibrated on scene (idf1)\nkind: link\nthreshold: 0.5\n")
    assert is_link_yaml(yaml_file)
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text("kind: cameras\ncameras: {}\n")
    assert not is_link_yaml(cameras)
    sub = tmp_path / "track1.txt"
    sub.write_text("1 2 3 10 10 20 20 -1 -1\n")
    assert is_aic_submission(sub)
    video = write_video(tmp_path / "v.mp4", 5)
    assert not is_aic_submission(video)


def test_gallery_export_refuses_the_gallery_itself_and_foreign_files(tmp_path: Path, reid_main) -> None:
    from reid.gallery.gallery import Gallery

    root = tmp_path / "g"
    Gallery.open(root, embedder="net", dim=4).close()
    before = (root / "gallery.sqlite").read_bytes()
    code, _, err = reid_main("gallery", "export", str(root), "--csv", str(root / "gallery.sqlite"))
    assert code == 2 and "inside the input" in err and (root / "gallery.sqlite").read_bytes() == before
    user = tmp_path / "user.csv"
    user.write_text("keep me\n")
    code, _, err = reid_main("gallery", "export", str(root), "--csv", str(user))
    assert code == 2 and user.read_text() == "keep me\n"
    assert reid_main("gallery", "export", str(root), "--csv", str(tmp_path / "new.csv"))[0] == 0
    assert reid_main("gallery", "export", str(root), "--csv", str(tmp_path / "new.csv"))[0] == 0  # ours: replaced


def test_export_onnx_never_replaces_its_checkpoint(tmp_path: Path, reid_main) -> None:
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    cfg = ModelConfig(arch="resnet18", pretrained="none", embedding_dim=16, input_size=(32, 32))
    ckpt = save_checkpoint(tmp_path / "w.pt", make_checkpoint(build_model(cfg), cfg))
    before = ckpt.read_bytes()
    code, _, err = reid_main("export", "onnx", "--weights", str(ckpt), "--out", str(ckpt), "--overwrite")
    assert code == 2 and "is the input" in err and ckpt.read_bytes() == before


def test_training_refuses_an_out_that_holds_its_dataset(tmp_path: Path, reid_main) -> None:
    from reid.synth.vehicleid import write_vehicleid

    data = tmp_path / "vid"
    write_vehicleid(data, num_train_ids=6, num_test_ids=2, size=(32, 32), seed=0)
    before = sorted(p.name for p in data.rglob("*"))
    code, _, err = reid_main("train", "--data", str(data), "--out", str(data), "--overwrite", "--epochs", "1")
    assert code == 2 and "contains the input" in err
    assert sorted(p.name for p in data.rglob("*")) == before


def test_a_folder_run_refuses_an_out_that_holds_the_gallery_it_was_given(tmp_path: Path, reid_main) -> None:
    cams = tmp_path / "cams"
    cams.mkdir()
    write_video(cams / "c1.mp4", 5)
    out = tmp_path / "run"
    (out / "gallery").mkdir(parents=True)
    (out / "gallery" / "keep.txt").write_text("x")
    code, _, err = reid_main("track", str(cams), "--out", str(out), "--gallery", str(out / "gallery"),
                             "--overwrite", "--detector", "motion")
    assert code == 2 and "contains the input" in err and (out / "gallery" / "keep.txt").exists()


def test_a_folder_run_without_embedding_is_refused_before_anything_is_written(tmp_path: Path, reid_main) -> None:
    cams = tmp_path / "cams"
    cams.mkdir()
    write_video(cams / "c1.mp4", 5)
    code, _, err = reid_main("track", str(cams), "--out", str(tmp_path / "o"), "--detector", "motion", "--no-reid")
    assert code == 2 and "embedding" in err and not (tmp_path / "o").exists()


def test_engine_settings_are_refused_for_one_video(tmp_path: Path, reid_main) -> None:
    video = write_video(tmp_path / "v.mp4", 5)
    code, _, err = reid_main("track", str(video), "--out", str(tmp_path / "o"), "--detector", "motion",
                             "--no-reid", "--set", "engine.name=ray")
    assert code == 2 and "only to a folder of cameras" in err


def test_an_out_that_holds_the_config_file_is_refused(tmp_path: Path, reid_main) -> None:
    video = write_video(tmp_path / "v.mp4", 5)
    out = tmp_path / "o"
    out.mkdir()
    (out / "my.yaml").write_text("kind: track\ndetector: motion\n")
    code, _, err = reid_main("track", str(video), "--out", str(out), "--config", str(out / "my.yaml"), "--no-reid",
                             "--overwrite")
    assert code == 2 and "contains the input" in err and (out / "my.yaml").exists()


def test_relink_is_refused_while_a_live_run_writes_the_gallery(tmp_path: Path) -> None:
    import json
    import os
    import socket

    from reid.errors import GalleryError
    from reid.gallery.gallery import Gallery
    from reid.gallery.relink import relink
    from reid.live.store import LIVE_WRITER

    root = tmp_path / "g"
    with Gallery.open(root, embedder="net", dim=4) as g:
        g.store.set_meta({LIVE_WRITER: json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run": "x"})})
    with pytest.raises(GalleryError, match="live run"):
        relink(root)


def test_a_live_writer_record_of_a_dead_process_does_not_block_relink(tmp_path: Path) -> None:
    import json
    import socket
    import subprocess
    import sys

    from reid.gallery.gallery import Gallery
    from reid.gallery.relink import relink
    from reid.live.store import LIVE_WRITER, live_writer
    from tests.gallery.tracklets import DIM, rows

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free: the session it stands for died without clearing its record
    root = tmp_path / "g"
    with Gallery.open(root, embedder="net", dim=DIM) as g:
        g.add_run("r", "s", {"c1": {}, "c2": {}}, rows(2, "c1", 1) + rows(2, "c2", 3, seed=2), [1, 2, 3, 4])
        g.store.set_meta({LIVE_WRITER: json.dumps({"pid": dead.pid, "host": socket.gethostname(), "run": "x"})})
        assert live_writer(g.store) is None
    assert relink(root) is not None  # no error: nothing is writing


def test_a_file_name_that_is_not_utf8_is_one_line(tmp_path: Path, reid_main) -> None:
    video = write_video(tmp_path / "v.mp4", 5)
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff.mp4"))
    bad.write_bytes(video.read_bytes())
    code, _, err = reid_main("track", str(bad), "--out", str(tmp_path / "o"), "--detector", "motion", "--no-reid")
    assert code == 2 and "UTF-8" in err



def _one_line_refusal(result: tuple[int, str, str], needle: str) -> None:
    code, _, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err and len(lines) <= 2, err  # the error line and its hint
    assert needle in err, err


def _mot_scene(tmp_path: Path) -> tuple[Path, Path]:
    """Ground truth in scene/gt and a prediction folder, one camera, two vehicles."""
    gt, pred = tmp_path / "scene" / "gt", tmp_path / "run1" / "mot"
    gt.mkdir(parents=True)
    pred.mkdir(parents=True)
    lines = "".join(f"{f},{v},{10 + 5 * f},{30 * v},40,20,1,-1,-1,-1\n" for f in range(1, 6) for v in (1, 2))
    (gt / "c1.txt").write_text(lines)
    (pred / "c1.txt").write_text(lines)
    return gt, pred


def test_eval_json_never_replaces_a_users_file_or_writes_inside_an_input(tmp_path: Path, reid_main) -> None:
    gt, pred = _mot_scene(tmp_path)
    user = tmp_path / "u.json"
    user.write_text("USER\n")
    args = ("eval", "mot", "--gt", str(gt), "--pred", str(pred), "--json")
    _one_line_refusal(reid_main(*args, str(user)), "not a results file written by reid")
    assert user.read_text() == "USER\n"
    _one_line_refusal(reid_main(*args, str(gt / "x.json")), "inside the input")
    _one_line_refusal(reid_main(*args, str(pred / "x.json")), "inside the input")
    assert not (gt / "x.json").exists() and not (pred / "x.json").exists()
    ours = tmp_path / "m.json"
    assert reid_main(*args, str(ours))[0] == 0
    assert reid_main(*args, str(ours))[0] == 0  # an earlier results file of reid's is replaced
    mtmc = ("eval", "mtmc", "--gt", str(gt), "--pred", str(pred), "--no-ceiling", "--json")
    _one_line_refusal(reid_main(*mtmc, str(user)), "not a results file written by reid")
    _one_line_refusal(reid_main(*mtmc, str(gt / "x.json")), "inside the input")
    assert reid_main(*mtmc, str(tmp_path / "t.json"))[0] == 0 and reid_main(*mtmc, str(tmp_path / "t.json"))[0] == 0
    assert user.read_text() == "USER\n" and not (gt / "x.json").exists()


def test_eval_folder_json_is_checked_before_any_image_is_read(tmp_path: Path, reid_main) -> None:
    query, gallery = tmp_path / "q", tmp_path / "g"
    for folder in (query, gallery):
        (folder / "1").mkdir(parents=True)
    _one_line_refusal(reid_main("eval", "folder", "--query", str(query), "--gallery", str(gallery), "--weights",
                                str(tmp_path / "w.pt"), "--json", str(gallery / "r.json")), "inside the input")
    assert not (gallery / "r.json").exists()


@pytest.mark.parametrize("bad", [".", "/", "", "jd", "mine.npz/x.json", "/proc/self/x.json", "/dev/null"])
def test_eval_json_that_cannot_be_a_file_is_one_line(tmp_path: Path, reid_main, monkeypatch, bad: str) -> None:
    gt, pred = _mot_scene(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jd").mkdir()
    (tmp_path / "mine.npz").write_bytes(b"mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, _, err = reid_main("eval", "mot", "--gt", str(gt), "--pred", str(pred), "--json", bad)
    assert code == 2 and "Traceback" not in err and "--json" in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and (tmp_path / "mine.npz").read_bytes() == b"mine"


def test_the_checker_names_what_is_wrong_with_a_file_path(tmp_path: Path) -> None:
    (tmp_path / "mine.npz").write_bytes(b"mine")
    with pytest.raises(OutputError, match="names no file"):
        check_output_file(Path(""), True)
    with pytest.raises(OutputError, match="is not a folder"):
        check_output_file(tmp_path / "mine.npz" / "deeper" / "e.npz", True)
    with pytest.raises(OutputError, match="cannot write"):
        check_output_file("/proc/self/x.npz", True)
    with pytest.raises(OutputError, match="not a regular file"):
        check_output_file("/dev/null", True)
    with pytest.raises(OutputError, match=r"must end in \.npz"):
        check_output_file(tmp_path / "best.pt", True, suffix=".npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz"]  # the write probe leaves nothing


@pytest.mark.parametrize("bad", [".", "/", "", "mine.npz/e.npz", "/proc/self/x.npz", "tr/best.pt", "/dev/full",
                                 "fifo.npz"])
def test_embed_out_that_cannot_be_a_features_file_is_one_line(tmp_path: Path, reid_main, monkeypatch,
                                                               bad: str) -> None:
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs" / "1").mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(tmp_path / "imgs" / "1" / "a.png")
    (tmp_path / "tr").mkdir()
    (tmp_path / "tr" / "best.pt").write_bytes(b"weights")
    (tmp_path / "mine.npz").write_bytes(b"mine")
    os.mkfifo(tmp_path / "fifo.npz")  # a pipe in place of the file: opening it would block or feed a reader
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, _, err = reid_main("embed", "imgs", "--weights", "tr/best.pt", "--out", bad, "--overwrite")
    assert code == 2 and "Traceback" not in err and "--out" in err, err
    if bad == "tr/best.pt":
        assert "must end in .npz" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "tr" / "best.pt").read_bytes() == b"weights"


def test_gallery_export_below_a_file_is_one_line(tmp_path: Path, reid_main) -> None:
    from reid.gallery.gallery import Gallery

    root = tmp_path / "g"
    Gallery.open(root, embedder="net", dim=4).close()
    (tmp_path / "mine.npz").write_bytes(b"mine")
    _one_line_refusal(reid_main("gallery", "export", str(root), "--csv", str(tmp_path / "mine.npz" / "x.csv")),
                      "is not a folder")
    assert (tmp_path / "mine.npz").read_bytes() == b"mine"


def test_a_misspelt_device_is_refused_even_when_no_network_uses_it(tmp_path: Path, reid_main) -> None:
    video = write_video(tmp_path / "v.mp4", 5)
    code, _, err = reid_main("track", str(video), "--out", str(tmp_path / "o"), "--detector", "motion", "--no-reid",
                             "--device", "foo")
    assert code == 2 and "unknown device" in err and not (tmp_path / "o").exists()


def test_an_input_that_is_not_on_disk_does_not_block_an_out_around_it(tmp_path: Path, monkeypatch) -> None:
    """`yolo11n.pt` (the default detector's release name) that is not a file here holds nothing of the user's:
    an --out around where it would be is not refused in its name; the same name as a real file is."""
    from reid.outputs import check_not_overlapping

    out = tmp_path / "out"
    (out / "work").mkdir(parents=True)
    monkeypatch.chdir(out / "work")
    check_not_overlapping(out, ["yolo11n.pt", None, "http://127.0.0.1/x.mjpg"])
    Path("yolo11n.pt").write_bytes(b"weights")
    with pytest.raises(OutputError, match="contains the input yolo11n.pt"):
        check_not_overlapping(out, ["yolo11n.pt"])


def test_a_broken_tracker_yaml_is_refused_before_out_is_created(tmp_path: Path, reid_main) -> None:
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    bad = tmp_path / "bad.yaml"
    bad.write_text("track_high_thresh: [not, a, number]\n")
    video = write_video(tmp_path / "v.mp4", 5)
    code, _, err = reid_main("track", str(video), "--out", str(tmp_path / "o"), "--detector", "motion", "--no-reid",
                             "--tracker", str(bad))
    assert code == 2 and "bad.yaml" in err and not (tmp_path / "o").exists()
    cams = tmp_path / "cams"
    cams.mkdir()
    write_video(cams / "c1.mp4", 5)
    cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(32, 32), embedding_dim=8)
    net = save_checkpoint(tmp_path / "net.pt", make_checkpoint(build_model(cfg), cfg))
    code, _, err = reid_main("track", str(cams), "--out", str(tmp_path / "f"), "--detector", "motion",
                             "--reid-weights", str(net), "--device", "cpu", "--tracker", str(bad))
    assert code == 2 and "bad.yaml" in err and not (tmp_path / "f").exists()

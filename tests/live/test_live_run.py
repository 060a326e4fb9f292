"""reid live as a library: files read as live streams, events, MOT files, status, the live manifest, a restart
that continues the ids, and bad sources reported per camera while the others run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests_live import write_sources

from reid.engine.local import LocalEngine
from reid.errors import ConfigError
from reid.live.config import LiveConfig
from reid.live.run import LiveHooks, LiveOptions, run_live

CONFIG = LiveConfig.model_validate({"track": {"detector": "motion", "device": "cpu"}, "file_speed": 4.0,
                                    "emit_every": 2.0})


def run(sources: Path, out: Path, embedder, notices: list | None = None):
    hooks = LiveHooks(engine=LocalEngine(in_process=True, embedder=embedder), embedder=embedder,
                      notice=(lambda cam, text: notices.append((cam, text))) if notices is not None else None)
    return run_live(LiveOptions(sources, out), CONFIG, hooks)


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def first_run(live_scene: Path, embedder, tmp_path_factory):
    root = tmp_path_factory.mktemp("live-run")
    sources = write_sources(root / "sources.yaml", {c: str(live_scene / f"{c}.mp4") for c in ("cam1", "cam2")})
    out = root / "out"
    result = run(sources, out, embedder)
    return sources, out, result, events(out)


def test_every_event_gets_a_global_id_and_a_line_with_its_latency(first_run) -> None:
    _, out, result, evs = first_run
    assert result.events == len(evs) > 0
    keys = {"wall_time", "camera", "track_id", "global_id", "t_start", "t_end", "similarity", "new", "latency_s"}
    assert all(keys <= set(e) for e in evs)
    assert all(e["latency_s"] >= 0 and e["t_end"] >= e["t_start"] for e in evs)
    assert {e["camera"] for e in evs} == {"cam1", "cam2"}
    assert result.latency.count == len(evs)


def test_an_id_once_given_never_changes(first_run) -> None:
    _, _, _, evs = first_run
    seen: dict[tuple[str, int], int] = {}
    for e in evs:
        key = (e["camera"], e["track_id"])
        assert seen.setdefault(key, e["global_id"]) == e["global_id"]


def test_mot_files_carry_the_global_ids_of_the_events(first_run) -> None:
    from reid.motfile import read_mot

    _, out, _, evs = first_run
    for camera in ("cam1", "cam2"):
        rows = read_mot(out / "mot" / f"{camera}.txt")
        assert len(rows) > 0
        assert {int(r) for r in rows[:, 1]} <= {e["global_id"] for e in evs if e["camera"] == camera}


def test_status_and_manifest_say_the_run_ended(first_run) -> None:
    _, out, _, _ = first_run
    status = json.loads((out / "status.json").read_text())
    assert status["running"] is False
    assert {c["state"] for c in status["cameras"].values()} == {"complete"}
    assert all(c["frames_processed"] > 0 for c in status["cameras"].values())
    manifest = json.loads((out / "live.json").read_text())
    assert manifest["sessions"][-1]["ended"] is not None
    assert (out / "report.html").is_file()


def test_the_gallery_holds_one_row_per_track(first_run) -> None:
    from reid.gallery.gallery import Gallery

    _, out, _, evs = first_run
    with Gallery.open(out / "gallery", create=False) as g:
        stored = g.tracklets(with_features=False)
    assert len(stored) == len({(e["camera"], e["track_id"]) for e in evs})
    by_key = {(t.camera, t.track_id): t.identity for t in stored}
    assert all(by_key[(e["camera"], e["track_id"])] == e["global_id"] for e in evs)


def test_the_same_command_again_continues_ids_and_identities(first_run, embedder) -> None:
    sources, out, first, evs = first_run
    second = run(sources, out, embedder)
    later = events(out)[len(evs):]
    assert later and second.events == len(later)
    for camera in ("cam1", "cam2"):
        before = max(e["track_id"] for e in evs if e["camera"] == camera)
        assert min(e["track_id"] for e in later if e["camera"] == camera) > before
    known = {e["global_id"] for e in evs}
    new_later = {e["global_id"] for e in later if e["new"]}
    assert not new_later & known and min(new_later, default=max(known) + 1) > max(known)  # ids never reused
    assert all(e["known_before"] == (e["global_id"] in known) for e in later)
    assert len(json.loads((out / "live.json").read_text())["sessions"]) == 2
    from reid.gallery.gallery import Gallery

    with Gallery.open(out / "gallery", create=False) as g:
        assert g.info()["runs"] == 2


def test_a_bad_camera_is_reported_while_the_others_run(live_scene: Path, embedder, tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "sources.yaml", {"good": str(live_scene / "cam1.mp4"),
                                                          "missing": str(tmp_path / "nope.mp4"),
                                                          "badurl": "rtsp:///nohost", "refused": "http://127.0.0.1:9/x"})
    notices: list = []
    result = run(sources, tmp_path / "out", embedder, notices)
    failed = {f.camera for f in result.failures}
    assert failed == {"missing", "badurl", "refused"}
    assert {cam for cam, _ in notices} >= failed
    assert result.cameras["good"].state == "complete" and result.events > 0
    status = json.loads((tmp_path / "out" / "status.json").read_text())["cameras"]
    assert status["missing"]["state"] == "failed" and "does not exist" in status["missing"]["error"]


@pytest.mark.parametrize(("text", "needle"), [
    ("kind: cameras\ncameras: {}\n", "no cameras"),
    ("kind: cameras\ncameras:\n  a: {source: x.mp4, colour: red}\n", "colour"),
    ("kind: cameras\ncameras:\n  a: {source: rtsp://127.0.0.1/s}\n  b: {source: rtsp://127.0.0.1/s}\n", "same source"),
    ("kind: cameras\ncameras:\n  a: {fps: 10}\n", "no source"),
    ("kind: cameras\ncameras:\n  a/b: {source: 0}\n  a_b: {source: 1}\n", "same files"),
])
def test_a_sources_file_that_cannot_run_is_refused_before_anything_starts(tmp_path: Path, text: str,
                                                                          needle: str) -> None:
    from reid.live.sources import load_sources

    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_sources(path)


@pytest.mark.parametrize("detector", ["motion", "yolo"])
def test_cameras_sharing_one_worker_give_every_camera_its_events_and_summary(
        live_scene: Path, embedder, tmp_path: Path, detector: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU layout (one worker, batched detector calls across cameras), run here on the CPU."""
    from reid.video import detectors

    sources = write_sources(tmp_path / "sources.yaml", {c: str(live_scene / f"{c}.mp4") for c in ("cam1", "cam2")})
    track = {"detector": detector, "device": "cpu"}
    if detector == "yolo":
        track.update(det_weights="yolo11n.yaml", conf=0.01, classes=[])  # random weights: any box will do
    cfg = LiveConfig.model_validate({"track": track, "file_speed": 4.0})
    batches: list[int] = []
    original = detectors.YoloDetector.detect

    def counting(self, frames):
        batches.append(len(frames))
        return original(self, frames)

    monkeypatch.setattr(detectors.YoloDetector, "detect", counting)
    hooks = LiveHooks(engine=LocalEngine(in_process=True, embedder=embedder, shared=True), embedder=embedder)
    result = run_live(LiveOptions(sources, tmp_path / "out"), cfg, hooks)
    assert set(result.cameras) == {"cam1", "cam2"} and not result.failures
    assert all(s.state == "complete" and s.frames > 0 for s in result.cameras.values())
    if detector == "motion":
        assert result.events > 0 and {e["camera"] for e in events(tmp_path / "out")} == {"cam1", "cam2"}
    else:
        assert max(batches) == 2  # one detector call served both cameras


def test_a_torn_last_line_of_events_is_cut_off_before_a_run_appends(tmp_path: Path) -> None:
    from reid.live.outputs import repair_events

    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"camera": "cam1", "glo')
    assert "cut off" in repair_events(tmp_path)
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'
    assert repair_events(tmp_path) is None  # a whole file is left as it is


def test_when_no_camera_can_run_the_run_is_an_error(live_scene: Path, embedder, tmp_path: Path) -> None:
    from reid.errors import InputError

    sources = write_sources(tmp_path / "sources.yaml", {"only": "rtsp:///nohost"})
    with pytest.raises(InputError, match="no camera"):
        run(sources, tmp_path / "out", embedder)


@pytest.mark.parametrize("spec", ["http://[::1", "rtsp:///nohost", "ftp://127.0.0.1/x", "http://127.0.0.1:99999/x"])
def test_a_malformed_url_is_a_problem_of_its_camera(spec: str) -> None:
    from reid.live.sources import source_problem

    assert "URL" in (source_problem(spec) or "")


def _dead_pid() -> int:
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _as_if_killed(out: Path, pid: int) -> None:
    """The folder as a session killed with SIGKILL leaves it: live.json as saved at its start (no end, the
    counters of before it), everything it appended still there."""
    manifest = json.loads((out / "live.json").read_text())
    manifest["sessions"][-1].update(ended=None, pid=pid, events_offset=0, mot_offsets={})
    manifest["sessions"][-1].pop("interrupted", None)
    for state in manifest["cameras"].values():
        state.update(next_id=0, next_frame=0)
    (out / "live.json").write_text(json.dumps(manifest))


def test_a_restart_after_the_driver_was_killed_gives_no_local_id_twice(live_scene: Path, embedder,
                                                                          tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "sources.yaml", {"cam1": str(live_scene / "cam1.mp4")})
    out = tmp_path / "out"
    run(sources, out, embedder)
    first = events(out)
    _as_if_killed(out, _dead_pid())
    run(sources, out, embedder)
    later = events(out)[len(first):]
    assert later and min(e["track_id"] for e in later) > max(e["track_id"] for e in first)
    sessions = json.loads((out / "live.json").read_text())["sessions"]
    assert sessions[0]["crashed"] is True and sessions[1]["ended"] is not None


def test_a_second_live_run_on_an_output_folder_in_use_is_refused(live_scene: Path, embedder,
                                                                   tmp_path: Path) -> None:
    import subprocess

    from reid.errors import OutputError

    sources = write_sources(tmp_path / "sources.yaml", {"cam1": str(live_scene / "cam1.mp4")})
    out = tmp_path / "out"
    run(sources, out, embedder)
    before = (out / "events.jsonl").read_bytes()
    other = subprocess.Popen(["sleep", "30"])  # stands for the first run, still going
    try:
        _as_if_killed(out, other.pid)
        (out / "status.json").touch()  # it rewrites its status every second
        with pytest.raises(OutputError, match="being written by another reid live"):
            run(sources, out, embedder)
    finally:
        other.kill()
        other.wait()
    assert (out / "events.jsonl").read_bytes() == before


def test_live_settings_link_online_and_refuse_batch_linking() -> None:
    from reid.config import load_config

    assert load_config(LiveConfig, None, ["link.threshold=0.5"]).link.mode == "online"
    with pytest.raises(ConfigError, match="reid gallery relink"):
        load_config(LiveConfig, None, ["link.mode=batch"])

"""Which cameras a folder holds.

Each video file directly inside is one camera, named by its stem (made one safe path component: a camera's
name becomes file names in the output folder, and must never reach outside it); each subfolder is one camera holding a video
or a sequence of frames. Anything else (text files, empty folders, a ground-truth folder) is skipped and
listed, so a user sees what was left out. When ``cameras.yaml`` lists cameras, it is the list of cameras:
entries it does not name are skipped (a synthetic scene's ``background/`` folder of PNGs is not a camera),
and a camera it names that the folder lacks is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reid.errors import InputError
from reid.multicam.cityflow import is_layout_file, layout_camera
from reid.outputs import safe_component
from reid.video.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, natural_key, utf8_name

CAMERAS_YAML = "cameras.yaml"


@dataclass
class CameraSource:
    """One camera: its name, what to open (a video file or a folder of frames), and which kind it is."""

    name: str
    path: Path
    kind: str  # "video" or "frames"
    roi: Path | None = None  # region-of-interest mask of a CityFlow camera folder (reid.multicam.cityflow)


@dataclass
class CameraFolder:
    """The cameras found in a folder, in name order, and the entries skipped with the reason."""

    root: Path
    cameras: list[CameraSource]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]


def _camera_in_subfolder(folder: Path) -> tuple[Path, str] | str:
    entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: natural_key(p.name))
    videos = [p for p in entries if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    frames = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not is_layout_file(p)]
    if videos and frames:
        return "holds both videos and image frames"
    if len(videos) > 1:
        return f"holds {len(videos)} videos ({videos[0].name}, {videos[1].name}, ...); one camera is one video"
    if videos:
        return videos[0], "video"
    if frames:
        return folder, "frames"
    return "holds no video and no image frames"


def discover_cameras(root: str | Path, only: list[str] | None = None) -> CameraFolder:
    """The cameras of folder ``root``; ``only`` (the cameras of ``cameras.yaml``) restricts and checks them."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"camera folder {root} does not exist", "SOURCE_DIR is a folder of videos or subfolders")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder")
    cameras: list[CameraSource] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, Path] = {}
    for entry in sorted(root.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith(".") or entry.name == CAMERAS_YAML:
            continue
        if not utf8_name(entry):
            skipped.append((ascii(entry.name), "the name is not valid UTF-8, which OpenCV cannot open (rename it)"))
            continue
        if entry.is_file():
            if entry.suffix.lower() not in VIDEO_SUFFIXES:
                skipped.append((entry.name, "not a video file"))
                continue
            found: tuple[Path, str] | str = (entry, "video")
            name = safe_component(entry.stem)
        elif entry.is_dir():
            found = _camera_in_subfolder(entry)
            name = safe_component(entry.name)
        else:
            skipped.append((entry.name, "not a file or folder"))
            continue
        if isinstance(found, str):
            skipped.append((entry.name, found))
            continue
        if only is not None and name not in only:
            skipped.append((entry.name, f"camera {name!r} is not listed in {CAMERAS_YAML}"))
            continue
        if name in seen:
            raise InputError(
                f"two cameras are named {name!r} in {root}: {seen[name].name} and {entry.name}",
                "rename one of them; a camera's name is its file stem or folder name",
            )
        seen[name] = entry
        layout = layout_camera(entry) if entry.is_dir() else None  # CityFlow: c006/vdo.avi beside roi.jpg
        cameras.append(CameraSource(name, found[0], found[1], roi=layout.roi if layout is not None else None))
    if only is not None:
        missing = [c for c in only if c not in seen]
        if missing:
            raise InputError(
                f"{CAMERAS_YAML} names camera{'s' if len(missing) > 1 else ''} {', '.join(missing)} that "
                f"{'are' if len(missing) > 1 else 'is'} not in {root}",
                "add the video (or frames subfolder) or remove the camera from cameras.yaml",
            )
    if not cameras:
        listed = "; ".join(f"{n}: {why}" for n, why in skipped[:5])
        raise InputError(
            f"no cameras found in {root}" + (f" (skipped {listed})" if listed else " (the folder is empty)"),
            "put one video file or one subfolder of frames per camera in it",
        )
    return CameraFolder(root, cameras, skipped)

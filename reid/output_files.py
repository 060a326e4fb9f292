"""Recognising the single files this project writes, so that ``--overwrite`` (or a rerun) replaces only them.

A command that writes one file (a features ``.npz``, an ONNX graph, a CSV export, a link YAML, an AI City
submission) checks it with :func:`reid.outputs.check_output_file` before any work: an input is never the output,
and an existing file is replaced only when the matching check below says this project wrote it. Each check
reads only the start of the file and never runs anything from it.
"""

from __future__ import annotations

from pathlib import Path

CSV_HEADER = "global_id,camera,track_id,run,t_start,t_end,first_frame,last_frame,num_boxes,class,crops"


def _head(path: Path, size: int = 4096) -> str:
    with open(path, "rb") as handle:
        return handle.read(size).decode("utf-8", errors="replace")


def is_features_file(path: Path) -> bool:
    """A ``reid embed`` features file: an ``.npz`` with ``features`` and ``meta`` (read without pickles)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {"features", "meta"} <= set(data.files)


def is_onnx_export(path: Path) -> bool:
    """A ``reid export onnx`` graph: its metadata names the reid network it came from."""
    import onnx

    model = onnx.load_model(str(path), load_external_data=False)
    return any(p.key == "reid_identity" for p in model.metadata_props)


def is_gallery_csv(path: Path) -> bool:
    """A ``reid gallery export`` CSV: it starts with the export's header."""
    return _head(path, 256).splitlines()[0].strip() == CSV_HEADER


def is_link_yaml(path: Path) -> bool:
    """A ``reid gallery calibrate --write`` file: a link config that says it was calibrated."""
    text = _head(path)
    return text.startswith("# calibrated on ") and "\nkind: link\n" in text


def is_aic_submission(path: Path) -> bool:
    """An AI City MTMC submission: lines of 9 numbers (an empty file counts: a run with no tracks)."""
    lines = [line for line in _head(path).splitlines()[:20] if line.strip()]
    return all(len(line.split()) == 9 and all(_number(v) for v in line.split()) for line in lines)


def is_eval_json(path: Path) -> bool:
    """A ``reid eval`` results file: the metrics of ``eval vehicleid|veri|folder`` (``dataset`` and
    ``protocols``), of ``eval mtmc`` (``idf1`` and ``per_camera``), or of ``eval mot`` (per camera, ``hota``
    and ``idf1``). Plain JSON, read only when it is small enough to be one."""
    import json

    if path.stat().st_size > 64 * 1024 * 1024:
        return False
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not doc:
        return False
    if isinstance(doc.get("protocols"), dict) and "dataset" in doc:
        return True
    if isinstance(doc.get("per_camera"), dict) and "idf1" in doc:
        return True
    return all(isinstance(v, dict) and {"hota", "idf1"} <= set(v) for v in doc.values())


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

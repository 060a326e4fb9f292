"""Shared test settings: offline, deterministic, and light on the 2 CPU cores CI has."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["shared_fixtures"]  # fixtures used in more than one folder

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def yolo_checkpoints(tmp_path_factory):
    """Real Ultralytics checkpoints of a random ``yolo11n`` network, saved the two ways Ultralytics saves them:
    ``YOLO.save()`` (``saved``) and the trainer's ``last.pt``/``best.pt`` layout (``trainer``: EMA network,
    optimiser state, train_args, NumPy metrics)."""
    from copy import deepcopy

    import numpy as np
    import torch
    from ultralytics import YOLO, __version__
    from ultralytics.utils import DEFAULT_CFG_DICT
    from ultralytics.utils.torch_utils import convert_optimizer_state_dict_to_fp16

    root = tmp_path_factory.mktemp("yolo")
    yolo = YOLO("yolo11n.yaml")
    yolo.save(root / "saved.pt")
    optimizer = torch.optim.SGD(yolo.model.parameters(), lr=0.01, momentum=0.9)
    torch.save({"epoch": 3, "best_fitness": np.float64(0.5), "model": None, "ema": deepcopy(yolo.model).half(),
                "updates": 10, "optimizer": convert_optimizer_state_dict_to_fp16(deepcopy(optimizer.state_dict())),
                "train_args": dict(DEFAULT_CFG_DICT), "train_metrics": {"metrics/mAP50(B)": np.float64(0.1)},
                "train_results": {"epoch": [1.0]}, "date": "2026-12-01", "version": __version__},
               root / "trainer.pt")
    return {"saved": root / "saved.pt", "trainer": root / "trainer.pt"}


@pytest.fixture()
def reid_main(monkeypatch, capsys):
    """Run the real ``reid`` entry point (with its error boundary) in-process: ``(exit code, stdout, stderr)``."""
    import sys

    def run(*args: str) -> tuple[int, str, str]:
        from reid_cli import main

        monkeypatch.setattr(sys, "argv", ["reid", *args])
        with pytest.raises(SystemExit) as exit_info:
            main.run()
        captured = capsys.readouterr()
        return int(exit_info.value.code or 0), captured.out, captured.err

    return run

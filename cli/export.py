"""``reid export``: turn a checkpoint into a deployable model file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Export a trained network to other runtimes.", no_args_is_help=True)


@app.command(name="onnx")
def onnx(
    weights: Annotated[str, typer.Option("--weights", "-w", help="Checkpoint from 'reid train' (best.pt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="ONNX file to write.")] = Path("model.onnx"),
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="Accept any batch size (default: batch of 1).")
    ] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="Store float16 weights (half the file size).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
) -> None:
    """Export to ONNX (input 'images' float32 Bx3xHxW RGB normalised; output 'embeddings' BxD), check with
    onnxruntime against PyTorch and print the largest difference. The file is written atomically."""
    from reid.models.export import export_onnx
    from reid.output_files import is_onnx_export
    from reid.outputs import check_output_file

    from .common import console

    check_output_file(out, overwrite, [weights], is_onnx_export, "ONNX export", "--out")
    with console.status("exporting and checking with onnxruntime"):
        info = export_onnx(weights, out, dynamic_batch=dynamic_batch, fp16=fp16)
    h, w = info["input_size"]
    console.print(
        f"wrote {info['path']} ({info['bytes'] / 1e6:.1f} MB, input {'B' if dynamic_batch else '1'}x3x{h}x{w}, "
        f"output {info['dim']}-d{', fp16 weights' if fp16 else ''}); largest difference from PyTorch: "
        f"{info['max_abs_diff']:.2e}",
        highlight=False,
    )

"""The embedding network and its use.

* :mod:`reid.models.config` — ``ModelConfig`` (backbone, pooling, neck, embedding size, preprocessing);
* :mod:`reid.models.embedder` — the network (``Embedder``, ``build_model``);
* :mod:`reid.models.checkpoint` — save/load/verify checkpoints, ``checkpoint_identity``;
* :mod:`reid.models.inference` — the fast inference path (``embed_records``, ``CropEmbedder``);
* :mod:`reid.models.export` — ONNX export checked with onnxruntime.

Nothing is imported here so that ``import reid.models`` stays free of torch.
"""

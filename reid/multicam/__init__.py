"""Batch processing of a folder of cameras: discovery, parallel per-camera tracking with a resumable
manifest, cross-camera linking through the gallery, and the run's outputs (global-id MOT files,
``identities.json``, annotated videos, ``report.html``)."""

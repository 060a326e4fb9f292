"""The synthetic vehicle world: sprites, re-ID datasets in real on-disk layouts, and multi-camera videos with truth.

Everything is deterministic for a seed and runs offline on a CPU in seconds, so tests, benchmarks and the demo
can rely on it. Import the module you need (each pulls in OpenCV):

- :mod:`reid.synth.vehicles` — ``VehicleSpec``, ``sample_vehicles``, ``render_vehicle``
- :mod:`reid.synth.views` — one photograph of a vehicle (geometry, lighting, clutter, occlusion, blur, JPEG)
- :mod:`reid.synth.vehicleid` — ``write_vehicleid``: the PKU VehicleID layout
- :mod:`reid.synth.veri` — ``write_veri``: the VeRi-776 layout
- :mod:`reid.synth.scene` — ``write_scene`` / ``load_scene`` / ``SceneInfo``: videos, MOT ground truth, cameras.yaml
- :mod:`reid.synth.config` — ``SynthConfig`` (``kind: synth``)
"""

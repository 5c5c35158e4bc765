"""Where a run runs: the local engine is :func:`sightspeed.pipeline.run.run`; :mod:`.ray` runs the same pipeline
on a Ray cluster (``sightspeed run ... --engine ray``), with the same outputs, manifest and resume rules."""

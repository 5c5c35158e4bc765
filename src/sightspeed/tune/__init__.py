"""sightspeed tune: search a pipeline's configurations on this machine, every candidate verified against the reference."""

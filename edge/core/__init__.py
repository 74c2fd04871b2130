"""The bottom layer: types, config base, runtime context, I/O router, hub, metrics; imports nothing else."""

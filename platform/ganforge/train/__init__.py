"""Training: the framework-free step, the Ray Train worker loop, checkpoints, the driver."""

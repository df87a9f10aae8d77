"""Run-time pieces for mmengine's Runner: crash-safe checkpoints and random-state hooks."""

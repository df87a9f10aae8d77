"""What the tools need around a run: loading a config and checking ``--cfg-options``
(:mod:`config`, :mod:`cfg_options`), the shape of an ``MGDDistill`` config
(:mod:`distill_config`), checks before training (:mod:`preflight`), the checkpoint loader,
launch set-up and atomic file writes. Nothing here imports another room of ``mgd``."""

"""The experiment runners behind ``tools/demo.py`` and ``tools/neu_cls.py``: :mod:`runs`
trains and tests one run (a finished run is skipped, a killed one resumed), :mod:`tables`
turns the runs' metrics into mean ± std tables and ``results.{md,json}``."""

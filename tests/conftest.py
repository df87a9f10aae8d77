"""Test-wide setup: ``import mgd`` first, so the stack fixes apply before mmrazor is imported."""

import mgd  # noqa: F401

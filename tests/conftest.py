"""Test-wide setup: ``import mgd.models`` first, so the stack fixes apply before mmrazor is
imported."""

import mgd.models  # noqa: F401

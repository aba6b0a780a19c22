"""The official specifications the tests validate against (../shared/specs): required in CI, else skipped."""

from __future__ import annotations

import os

import pytest

from rareeco.declare import pact

IN_CI = os.environ.get("CI", "").lower() == "true"


def need_pact_spec() -> None:
    """Skip the calling module (or fail under CI=true) when PACT's openapi.yaml is not found."""
    if (pact.spec_dir() / "v3" / "openapi.yaml").is_file():
        return
    message = (f"PACT specification not found at {pact.spec_dir()}: set RAREECO_PACT_SPEC_DIR to the folder "
               "holding v3/openapi.yaml to run these tests")
    if IN_CI:
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

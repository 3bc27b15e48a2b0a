from __future__ import annotations

import pytest

from tests.fixtures.serving import serving_model


@pytest.fixture(scope="module")
def model():
    """The model folder the servers in a test module load (the default model when it is committed)."""
    return serving_model()

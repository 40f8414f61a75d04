"""Fixtures of the loss tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def no_float_errors():
    with np.errstate(all="raise"):  # catches a log(0) or 0/0 on the NumPy leg
        yield

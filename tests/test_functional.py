"""Array helpers shared by layers and losses (anynet.functional), on every backend."""

from __future__ import annotations

import numpy as np

from anynet.testing import arr, host


def test_one_hot_of_narrow_labels_does_not_wrap_around(backend):
    from anynet.functional import one_hot

    t = arr(backend, [1, 200, 5], "uint8")
    h = host(one_hot(t, 300, backend.xp.float64))
    np.testing.assert_array_equal(h, np.eye(300)[[1, 200, 5]])

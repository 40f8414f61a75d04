"""The sliding-window kernels behind Conv and the pooling layers (anynet.layers._windows), on every backend."""

from __future__ import annotations

import numpy as np

from anynet.layers._windows import col2im, im2col
from anynet.testing import arr, host


def test_im2col_col2im_are_adjoint(backend):
    # <im2col(x), c> == <x, col2im(c)> for every x and c: col2im is im2col's transpose.
    rng = np.random.default_rng(5)
    kernel, stride, pad = (3, 2), (2, 1), (1, 1)
    x0 = rng.standard_normal((2, 3, 6, 5))
    col = im2col(arr(backend, x0), kernel, stride, pad)
    c0 = rng.standard_normal(tuple(col.shape))
    back = col2im(arr(backend, c0), x0.shape, kernel, stride, pad)
    np.testing.assert_allclose(np.sum(host(col) * c0), np.sum(x0 * host(back)), rtol=1e-10)

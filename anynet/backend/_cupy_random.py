"""Philox4x32-10 for CuPy: a random stream whose whole state is two integers (key, counter).

Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011,
https://doi.org/10.1145/2063384.2063405; the generator of cuRAND's and JAX's Philox) maps a 128-bit
counter and a 64-bit key to four 32-bit words. A stream here is (key, counter): the key is the
seed's 64 bits, the counter how many 4-word blocks have been used; block b is Philox of the counter
words (b mod 2**32, b div 2**32, 0, 0). A draw of n words takes the blocks counter ..
counter + ceil(n/4) - 1 and moves the counter past them, so the same (key, counter) gives the same
numbers on every GPU, and saving the two integers resumes the stream exactly.

The block function is written twice: a CUDA kernel (``cupy.ElementwiseKernel``, built on first
use, so importing this module never imports CuPy) and a NumPy reference on the host, which the
tests compare to Random123's known answers and, on a GPU, to the kernel bit for bit.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable

import array_api_compat
import numpy as np

__all__ = ["Philox", "cupy_words", "host_words", "philox4x32_10", "uniform_from_words", "words_needed"]

_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_WEYL = (0x9E3779B9, 0xBB67AE85)  # key bumps: golden ratio and sqrt(3) - 1, as 32-bit fractions
_ROUNDS = 10
_MASK32 = 0xFFFFFFFF
_LIMIT = 2**64  # key and counter are 64-bit integers

# Bits of uniform resolution per dtype: each is exactly representable, so u < 1 always.
_BITS = {"float16": 11, "float32": 24, "float64": 53}


def philox4x32_10(counter: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """The Philox4x32-10 block function on the host (NumPy): the reference for the CUDA kernel.

    counter: (N, 4) uint32 -> (N, 4) uint32.

    **Arguments:**

    - ``counter``: N counters of four 32-bit words each (word 0 first, as Random123 writes them).
    - ``key``: the two 32-bit key words ``(k0, k1)``.

    **Returns:** the four output words of each counter, as ``uint32``.
    """
    c = [np.asarray(counter, dtype=np.uint32)[:, j].astype(np.uint64) for j in range(4)]
    k0, k1 = (np.uint64(int(k) & _MASK32) for k in key)
    m0, m1 = (np.uint64(m) for m in _MULTIPLIERS)
    mask, shift = np.uint64(_MASK32), np.uint64(32)
    for r in range(_ROUNDS):
        if r:
            k0, k1 = (k0 + np.uint64(_WEYL[0])) & mask, (k1 + np.uint64(_WEYL[1])) & mask
        p0, p1 = m0 * c[0], m1 * c[2]  # 32 x 32 bits: exact in uint64
        c = [(p1 >> shift) ^ c[1] ^ k0, p1 & mask, (p0 >> shift) ^ c[3] ^ k1, p0 & mask]
    return np.stack(c, axis=1).astype(np.uint32)


def host_words(key: int, start: int, n: int) -> np.ndarray:
    """``n`` words of the stream ``key`` from block ``start`` on, computed on the host (NumPy).

    **Arguments:**

    - ``key``: the stream's 64-bit key.
    - ``start``: the first block (counter value) to use.
    - ``n``: how many 32-bit words.

    **Returns:** (n,) ``uint32``, the same words ``cupy_words`` gives on a GPU.
    """
    blocks = np.arange(-(-n // 4), dtype=np.uint64) + np.uint64(start)
    counter = np.zeros((blocks.size, 4), dtype=np.uint32)
    counter[:, 0] = blocks & np.uint64(_MASK32)
    counter[:, 1] = blocks >> np.uint64(32)
    return philox4x32_10(counter, (key & _MASK32, key >> 32)).reshape(-1)[:n]


_CUDA_PHILOX = r"""
__device__ void philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1) {
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        unsigned int hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        unsigned int x0 = hi1 ^ c[1] ^ k0, x2 = hi0 ^ c[3] ^ k1;
        c[0] = x0; c[1] = lo1; c[2] = x2; c[3] = lo0;
    }
}
"""

# One thread per block: counter (start + i) -> words 4i .. 4i+3 of the output (those below n).
_CUDA_BLOCK = r"""
unsigned long long b = start + (unsigned long long)i;
unsigned int c[4] = {(unsigned int)b, (unsigned int)(b >> 32), 0u, 0u};
philox4x32_10(c, k0, k1);
for (int j = 0; j < 4; ++j) {
    ptrdiff_t w = 4 * i + j;
    if (w < n) out[w] = c[j];
}
"""

_KERNEL: list[Any] = []  # built on first use: CuPy compiles it at the first call


def _kernel() -> Any:
    if not _KERNEL:
        import cupy

        _KERNEL.append(cupy.ElementwiseKernel(
            "uint32 k0, uint32 k1, uint64 start, int64 n", "raw uint32 out", _CUDA_BLOCK,
            "anynet_philox4x32_10", preamble=_CUDA_PHILOX))
    return _KERNEL[0]


def cupy_words(key: int, start: int, n: int) -> Any:
    """``n`` words of the stream ``key`` from block ``start`` on, computed on the current GPU.

    **Arguments:**

    - ``key``, ``start``, ``n``: as for ``host_words``.

    **Returns:** (n,) ``cupy.uint32`` on the current CUDA device, equal to ``host_words``.
    """
    import cupy

    out = cupy.empty(n, dtype=cupy.uint32)
    if n:
        _kernel()(np.uint32(key & _MASK32), np.uint32(key >> 32), np.uint64(start), np.int64(n), out,
                  size=-(-n // 4))
    return out


def words_needed(n: int, dtype: Any) -> int:
    """How many 32-bit words ``n`` uniform numbers of ``dtype`` take (float64: two each; float16
    and float32: one).

    **Arguments:**

    - ``n``: how many numbers.
    - ``dtype``: float16, float32 or float64 (NumPy's or CuPy's).

    **Returns:** the number of words; TypeError naming the dtype for any other.
    """
    return n * (2 if _bits(dtype) > 32 else 1)


def _bits(dtype: Any) -> int:
    try:
        name = np.dtype(dtype).name  # CuPy's dtypes are NumPy's
    except TypeError:
        name = str(dtype)
    if name not in _BITS:
        raise TypeError(f"Philox: expected a float16, float32 or float64 dtype, got {name}")
    return _BITS[name]


def uniform_from_words(words: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """Uniform [0, 1) numbers of ``shape`` and ``dtype`` from 32-bit words, in the words' namespace.

    words: (words_needed(prod(shape), dtype),) uint32 -> ``shape``. float16 and float32 take the
    top 11 and 24 bits of a word; float64 takes 27 bits of word 2j and 26 of word 2j+1 (as NumPy's
    ``random`` does). Every step is exact, so every library gives the same bits.

    **Arguments:**

    - ``words``: a uint32 array of any array-API library (NumPy on the host, CuPy on a GPU).
    - ``shape``: the shape of the result.
    - ``dtype``: the result's dtype, a float dtype of the words' namespace.

    **Returns:** the numbers, on the words' device.
    """
    xp = array_api_compat.array_namespace(words)
    bits = _bits(dtype)
    if bits > 32:
        high = xp.astype(words[0::2] >> 5, xp.float64)
        low = xp.astype(words[1::2] >> 6, xp.float64)
        u = (high * 67108864.0 + low) * (1.0 / 9007199254740992.0)  # (a * 2**26 + b) / 2**53
    else:
        u = xp.astype(xp.astype(words >> (32 - bits), xp.float32) * (1.0 / (1 << bits)), dtype)
    return xp.reshape(u, shape)


class Philox:
    """A Philox4x32-10 stream: ``key`` (64 bits) and ``counter`` (blocks used so far), nothing else.

    **Arguments:**

    - ``key``: the seed's 64 bits (None: 64 bits from the OS).
    - ``counter``: the first unused block (0 for a new stream).
    - ``words``: computes words for ``(key, start, n)``: ``cupy_words`` on a GPU, ``host_words``
      on the host.
    """

    def __init__(self, key: int | None, counter: int = 0,
                 words: Callable[[int, int, int], Any] = host_words):
        self.key = secrets.randbits(64) if key is None else int(key) % _LIMIT
        self.counter = int(counter)
        self.words = words

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform [0, 1) numbers of ``shape`` and ``dtype`` from the next blocks of the stream.

        **Arguments:**

        - ``shape``: the shape of the result.
        - ``dtype``: float16, float32 or float64 of the namespace ``words`` returns.

        **Returns:** the numbers; the counter has moved past the blocks they used.
        """
        n = words_needed(int(np.prod(shape, dtype=np.int64)), dtype)
        u = uniform_from_words(self.words(self.key, self.counter, n), shape, dtype)
        self.counter += -(-n // 4)
        return u

    def state(self) -> list[int]:
        """``[key, counter]``: everything needed to continue the stream (JSON-able)."""
        return [self.key, self.counter]

    @classmethod
    def from_state(cls, saved: Any, words: Callable[[int, int, int], Any] = host_words) -> Philox:
        """The stream ``state()`` returned; ValueError naming what does not fit.

        **Arguments:**

        - ``saved``: ``[key, counter]``, two integers in [0, 2**64).
        - ``words``: as for ``Philox``.

        **Returns:** a ``Philox`` that continues where the saved one stood.
        """
        if (not isinstance(saved, list) or len(saved) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < _LIMIT for v in saved)):
            raise ValueError(f"Philox: expected [key, counter], two integers in [0, 2**64), got {saved!r:.100}")
        return cls(saved[0], saved[1], words)

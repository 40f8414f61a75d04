"""CuPy's Philox4x32-10 streams (``anynet.backend._cupy_random``): the NumPy block function against
Random123's known answers, the stream's layout, floats and saved state on the host, the CUDA
source compiled as C on the host; on a GPU, the kernel against the host bit for bit and an exact
resume of ``uniform_like``."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess

import numpy as np
import pytest

import anynet
from anynet.backend import _cupy_random as cr
from anynet.backend._cupy import CuPyDevice
from anynet.testing import backend_fixture, host

# this module's GPU tests run on CuPy only (skipped with the reason where no GPU works)
backend = backend_fixture("backend", ["cupy"])

# Random123 (github.com/DEShawResearch/random123), tests/kat_vectors, the three "philox4x32 10"
# lines: counter (4 words), key (2 words), expected (4 words).
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_block_function_gives_random123s_known_answers(counter, key, expected):
    out = cr.philox4x32_10(np.array([counter], dtype=np.uint32), key)
    assert out.dtype == np.uint32 and out.tolist() == [list(expected)]


def test_all_known_answers_in_one_call():
    counters = np.array([c for c, _, _ in KAT], dtype=np.uint32)
    for row, (_, key, expected) in enumerate(KAT):
        assert cr.philox4x32_10(counters, key)[row].tolist() == list(expected)


def test_stream_words_are_blocks_of_the_counter_in_order():
    key, start = 0x0123456789ABCDEF, 2**32 + 5  # the block number's high word goes into counter word 1
    counters = np.array([[(start + b) & 0xFFFFFFFF, (start + b) >> 32, 0, 0] for b in range(3)], dtype=np.uint32)
    expected = cr.philox4x32_10(counters, (key & 0xFFFFFFFF, key >> 32)).reshape(-1)
    np.testing.assert_array_equal(cr.host_words(key, start, 12), expected)
    np.testing.assert_array_equal(cr.host_words(key, start, 10), expected[:10])  # a partial last block
    np.testing.assert_array_equal(cr.host_words(key, start + 1, 8), expected[4:])
    assert cr.host_words(key, start, 0).shape == (0,)


@pytest.mark.parametrize(("dtype", "top"), [(np.float16, 1 - 2.0**-11), (np.float32, 1 - 2.0**-24),
                                            (np.float64, 1 - 2.0**-53)])
def test_floats_cover_zero_to_just_below_one(dtype, top):
    n = cr.words_needed(2, dtype)
    ends = [cr.uniform_from_words(np.full(n, w, dtype=np.uint32), (2,), dtype) for w in (0, 0xFFFFFFFF)]
    assert all(u.dtype == dtype for u in ends)
    assert ends[0].tolist() == [0.0, 0.0] and ends[1].tolist() == [top, top]
    u = cr.Philox(5).uniform((4000,), dtype)
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0 and abs(float(u.mean()) - 0.5) < 0.03


def test_float64_takes_27_and_26_bits_of_a_word_pair():
    words = np.array([0xFFFFFFFF, 0x00000000, 0x00000000, 0xFFFFFFFF], dtype=np.uint32)
    u = cr.uniform_from_words(words, (2,), np.float64)
    assert u.tolist() == [(2**27 - 1) * 2.0**-27, (2**26 - 1) * 2.0**-53]


def test_other_dtypes_are_refused_by_name():
    with pytest.raises(TypeError, match="Philox: expected a float16, float32 or float64 dtype, got int32"):
        cr.Philox(1).uniform((3,), np.int32)


def test_a_draw_uses_the_next_blocks_and_moves_the_counter():
    rng = cr.Philox(99)
    a, b = rng.uniform((2, 3), np.float32), rng.uniform((5,), np.float64)
    assert a.shape == (2, 3) and b.shape == (5,) and rng.state() == [99, 2 + 3]  # 6 words, then 10
    whole = cr.host_words(99, 0, 20)
    np.testing.assert_array_equal(a.reshape(-1), cr.uniform_from_words(whole[:6], (6,), np.float32))
    np.testing.assert_array_equal(b, cr.uniform_from_words(whole[8:18], (5,), np.float64))


def test_a_restored_stream_continues_exactly():
    rng = cr.Philox(None)  # a key from the OS
    rng.uniform((7,), np.float32)
    saved = json.loads(json.dumps(rng.state()))
    straight = [rng.uniform((3, 4), np.float32), rng.uniform((9,), np.float64)]
    resumed = cr.Philox.from_state(saved)
    for a, b in zip(straight, [resumed.uniform((3, 4), np.float32), resumed.uniform((9,), np.float64)]):
        np.testing.assert_array_equal(a, b)
    assert resumed.state() == rng.state()


@pytest.mark.parametrize("saved", ["1 2", [1], [1, 2, 3], [1, -1], [2**64, 0], [True, 0], [1.0, 2], None])
def test_a_damaged_state_is_refused_by_name(saved):
    with pytest.raises(ValueError, match=r"Philox: expected \[key, counter\], two integers in \[0, 2\*\*64\)"):
        cr.Philox.from_state(saved)


class _Scope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cupy_random_saves_two_integers_and_refuses_other_kinds():
    """CuPy's facet, on a device built without a GPU: drawing through it with the host words."""
    random = CuPyDevice(None, _Scope(), "cuda:0").random
    rng = random.new_rng(2**63 + 7)
    assert random.rng_state(rng) == {"cupy_philox": [2**63 + 7, 0]} and rng.words is cr.cupy_words
    rng.words = cr.host_words
    first = random.uniform(rng, (4, 2), np.float32)
    saved = json.loads(json.dumps(random.rng_state(rng)))
    assert saved == {"cupy_philox": [2**63 + 7, 2]}
    restored = random.restore_rng(saved)
    assert restored.state() == [2**63 + 7, 2] and restored.words is cr.cupy_words
    restored.words = cr.host_words
    np.testing.assert_array_equal(random.uniform(restored, (4, 2), np.float32), random.uniform(rng, (4, 2), np.float32))
    assert not np.array_equal(first, random.uniform(restored, (4, 2), np.float32))
    assert random.restore_rng({"numpy": {"state": 1}}) is None  # another kind: RandomStreams skips it
    with pytest.raises(ValueError, match="Philox: expected"):
        random.restore_rng({"cupy_philox": [1, -2]})


_HARNESS = """
#include <stddef.h>
#define __device__
static unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
%s
void run(unsigned int k0, unsigned int k1, unsigned long long start, long long n, unsigned int *out, ptrdiff_t size) {
    for (ptrdiff_t i = 0; i < size; ++i) {
%s
    }
}
"""


def test_the_cuda_source_compiled_as_c_matches_the_host(tmp_path):
    """The kernel's CUDA source, with ``__umulhi`` written out, built by the host's C compiler:
    its words equal ``host_words`` (the GPU test compares the real kernel)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on this machine")
    src = tmp_path / "philox.c"
    src.write_text(_HARNESS % (cr._CUDA_PHILOX, cr._CUDA_BLOCK))
    lib = tmp_path / "philox.so"
    subprocess.run([cc, "-std=c99", "-O1", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, timeout=60)
    run = ctypes.CDLL(str(lib)).run
    run.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_void_p,
                    ctypes.c_ssize_t]
    for key, start, n in [(0, 0, 4), (0xFFFFFFFFFFFFFFFF, 2**32 - 1, 4097), (12345, 7, 10)]:
        out = np.zeros(n, dtype=np.uint32)
        run(key & 0xFFFFFFFF, key >> 32, start, n, out.ctypes.data, -(-n // 4))
        np.testing.assert_array_equal(out, cr.host_words(key, start, n))


# -- on a GPU ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "start", "n"), [(0, 0, 1), (0, 0, 4), (0xFFFFFFFFFFFFFFFF, 2**32 - 1, 4097),
                                                 (12345, 7, 1_000_003)])
def test_kernel_equals_the_host_bit_for_bit(backend, key, start, n):
    with backend.scope():
        words = cr.cupy_words(key, start, n)
    assert words.dtype == np.uint32 and words.shape == (n,)
    np.testing.assert_array_equal(host(words), cr.host_words(key, start, n))


def test_kernel_known_answer_all_zero(backend):
    assert host(cr.cupy_words(0, 0, 4)).tolist() == list(KAT[0][2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_like_resumes_exactly_and_equals_the_host(backend, dtype):
    x = backend.zeros((3, 5), dtype=backend.float_dtype(dtype))
    anynet.backend.uniform_like(x)
    state = json.loads(json.dumps(anynet.backend.rng_state()))
    assert backend.name not in state["unsaved"]
    straight = [host(anynet.backend.uniform_like(x)) for _ in range(2)]
    anynet.backend.set_rng_state(state)
    resumed = [host(anynet.backend.uniform_like(x)) for _ in range(2)]
    reference = cr.Philox.from_state(state["devices"][backend.name]["cupy_philox"])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, reference.uniform((3, 5), np.dtype(dtype)))

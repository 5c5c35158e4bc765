# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, language_level=3
"""Cython kernels: the pure-Python twins are the numpy references in sightspeed.kernels (preprocess_reference,
composite_reference); tests/contracts hold them together."""

from cython.parallel cimport prange


def normalize_chw(const unsigned char[:, :, :] src, float[:, :, :] out, float[::1] a, float[::1] b,
                  bint swap, int threads=1):
    """out[c, y, x] = src[y, x, c'] * a[c] + b[c], c' = 2 - c when ``swap``."""
    cdef Py_ssize_t h = src.shape[0], w = src.shape[1], y, x
    cdef int c0 = 2 if swap else 0
    cdef int c2 = 0 if swap else 2
    cdef float a0 = a[0], a1 = a[1], a2 = a[2], b0 = b[0], b1 = b[1], b2 = b[2]
    for y in prange(h, nogil=True, num_threads=threads, schedule="static"):
        for x in range(w):
            out[0, y, x] = src[y, x, c0] * a0 + b0
            out[1, y, x] = src[y, x, 1] * a1 + b1
            out[2, y, x] = src[y, x, c2] * a2 + b2


def blend(const unsigned char[:, :, :] fg, const unsigned char[:, :, :] bg, const unsigned char[:, :] mask,
          unsigned char[:, :, :] out, int threads=1):
    """out = round((fg * m + bg * (255 - m)) / 255), exactly, in 16-bit integer arithmetic."""
    cdef Py_ssize_t h = mask.shape[0], w = mask.shape[1], y, x, c
    cdef unsigned short m, im, t
    for y in prange(h, nogil=True, num_threads=threads, schedule="static"):
        for x in range(w):
            m = mask[y, x]
            im = 255 - m
            for c in range(3):
                t = fg[y, x, c] * m + bg[y, x, c] * im + 128
                out[y, x, c] = <unsigned char>((t + (t >> 8)) >> 8)

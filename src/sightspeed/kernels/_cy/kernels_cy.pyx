# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, language_level=3
"""Cython kernels: the pure-Python twins are the numpy references in sightspeed.kernels (preprocess_reference,
composite_reference); tests/contracts hold them together."""

from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc


cdef inline void _normalize_row(const unsigned char* r, float* o0, float* o1, float* o2, Py_ssize_t w,
                                int first, int last, float a0, float a1, float a2, float b0, float b1,
                                float b2) noexcept nogil:
    cdef Py_ssize_t x
    for x in range(w):
        o0[x] = r[3 * x + first] * a0 + b0
        o1[x] = r[3 * x + 1] * a1 + b1
        o2[x] = r[3 * x + last] * a2 + b2


def normalize_chw(const unsigned char[:, :, :] src, float[:, :, :] out, float[::1] a, float[::1] b,
                  bint swap, int threads=1):
    """out[c, y, x] = src[y, x, c'] * a[c] + b[c], c' = 2 - c when ``swap``. Contiguous rows (the usual case: a
    scratch image into a fresh blob) go through raw row pointers, which gcc vectorises; others index generally."""
    cdef Py_ssize_t h = src.shape[0], w = src.shape[1], y, x
    cdef int c0 = 2 if swap else 0
    cdef int c2 = 0 if swap else 2
    cdef float a0 = a[0], a1 = a[1], a2 = a[2], b0 = b[0], b1 = b[1], b2 = b[2]
    if h == 0 or w == 0:
        return
    if src.strides[1] == 3 and src.strides[2] == 1 and out.strides[2] == sizeof(float):
        for y in prange(h, nogil=True, num_threads=threads, schedule="static"):
            if swap:  # literal offsets in each branch, so the loads are a fixed pattern
                _normalize_row(&src[y, 0, 0], &out[0, y, 0], &out[1, y, 0], &out[2, y, 0], w, 2, 0,
                               a0, a1, a2, b0, b1, b2)
            else:
                _normalize_row(&src[y, 0, 0], &out[0, y, 0], &out[1, y, 0], &out[2, y, 0], w, 0, 2,
                               a0, a1, a2, b0, b1, b2)
        return
    for y in prange(h, nogil=True, num_threads=threads, schedule="static"):
        for x in range(w):
            out[0, y, x] = src[y, x, c0] * a0 + b0
            out[1, y, x] = src[y, x, 1] * a1 + b1
            out[2, y, x] = src[y, x, c2] * a2 + b2


cdef extern from "blend_rows.h" nogil:
    void _blend_into "ss_blend_into"(const unsigned char* f, const unsigned char* b, const unsigned short* m3,
                                     unsigned char* o, Py_ssize_t n)
    void _blend_in_place "ss_blend_in_place"(const unsigned char* f, unsigned char* b, const unsigned short* m3,
                                             Py_ssize_t n)
    void _spread3 "ss_spread3"(const unsigned char* m, unsigned short* m3, Py_ssize_t w)


cdef bint _rows_contiguous(const unsigned char[:, :, :] a) noexcept:
    return a.strides[1] == 3 and a.strides[2] == 1


def blend(const unsigned char[:, :, :] fg, const unsigned char[:, :, :] bg, const unsigned char[:, :] mask,
          unsigned char[:, :, :] out, int threads=1):
    """out = round((fg * m + bg * (255 - m)) / 255), exactly, in 16-bit integer arithmetic.

    Rows whose pixels are contiguous (any row stride: a ROI of a frame) take the fast path: the mask row is spread
    to 3 channels in a per-thread buffer, then one flat loop over the row's bytes that gcc vectorises."""
    cdef Py_ssize_t h = mask.shape[0], w = mask.shape[1], y, x, c
    cdef unsigned short m, im, t
    cdef unsigned short* m3
    cdef bint in_place = &out[0, 0, 0] == &bg[0, 0, 0] if h and w else False
    if h == 0 or w == 0:
        return
    if _rows_contiguous(fg) and _rows_contiguous(bg) and _rows_contiguous(out) and mask.strides[1] == 1:
        with nogil, parallel(num_threads=threads):
            m3 = <unsigned short*>malloc(3 * w * sizeof(unsigned short))
            for y in prange(h, schedule="static"):
                _spread3(&mask[y, 0], m3, w)
                if in_place:
                    _blend_in_place(&fg[y, 0, 0], &out[y, 0, 0], m3, 3 * w)
                else:
                    _blend_into(&fg[y, 0, 0], &bg[y, 0, 0], m3, &out[y, 0, 0], 3 * w)
            free(m3)
        return
    for y in prange(h, nogil=True, num_threads=threads, schedule="static"):
        for x in range(w):
            m = mask[y, x]
            im = 255 - m
            for c in range(3):
                t = fg[y, x, c] * m + bg[y, x, c] * im + 128
                out[y, x, c] = <unsigned char>((t + (t >> 8)) >> 8)


cdef extern from "resize_rows.h" nogil:
    int ss_simd_available()
    void ss_resize_row(const unsigned char* r0, const unsigned char* r1, const int* ofs, const short* wx,
                       Py_ssize_t n, Py_ssize_t n_simd, float* p0, float* p1, float* p2, float wy,
                       const float* a, const float* bias, int simd)

SIMD = ss_simd_available()  # the widest step of resize_normalize_chw here: 2 AVX2 + FMA, 1 SSSE3, 0 none


def resize_normalize_chw(const unsigned char[:, :, :] src, float[:, :, :] out, const int[::1] ofs,
                         const short[:, ::1] wx, const int[::1] y0, const int[::1] y1, const float[::1] wy,
                         const float[::1] a, const float[::1] b, bint swap, Py_ssize_t n_simd, int simd,
                         int threads=1):
    """Bilinear resize + out[c, y, x] = level * a[c] + b[c] (channel c' = 2 - c when ``swap``) in one pass over
    each output row: rows y0[y] and y1[y] blended with weight wy[y], the taps (ofs[x], ofs[x] + 3) with the int16
    weight pairs wx[x]. ``src`` rows must have contiguous pixels; ``out`` rows contiguous floats. ``simd``: the
    widest step to use (2 AVX2, 1 SSSE3, 0 the plain loop; capped at what this CPU has). See resize_rows.h for the
    arithmetic and for ``n_simd``."""
    cdef Py_ssize_t h = out.shape[1], w = out.shape[2], y
    cdef int p0 = 2 if swap else 0
    cdef int p2 = 0 if swap else 2
    cdef float asrc[3]
    cdef float bsrc[3]
    asrc[0] = a[p0]; asrc[1] = a[1]; asrc[2] = a[p2]
    bsrc[0] = b[p0]; bsrc[1] = b[1]; bsrc[2] = b[p2]
    if h == 0 or w == 0:
        return
    simd = min(simd, SIMD)  # never a step this CPU lacks
    for y in prange(h, nogil=True, num_threads=threads, schedule="static"):
        ss_resize_row(&src[y0[y], 0, 0], &src[y1[y], 0, 0], &ofs[0], &wx[0, 0], w, n_simd,
                      &out[p0, y, 0], &out[1, y, 0], &out[p2, y, 0], wy[y], asrc, bsrc, simd)

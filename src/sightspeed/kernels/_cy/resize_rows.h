/* One output row of the fused bilinear resize + scale/shift + HWC -> CHW (the cython ``preprocess`` kernel).
 *
 * r0, r1   the two source rows (uint8, 3 interleaved channels) blended vertically
 * ofs[x]   byte offset in a row of output pixel x's left tap; the right tap is at ofs[x] + 3
 * wx[x]    eight int16 per output pixel: (w0, w1) three times, then (0, 0); w0 + w1 = 1 << 14
 * wy       the weight of r1
 * a, bias  per source channel (the caller does the channel swap): value = level * a[c] + bias[c]
 * p[c]     the output plane row that source channel c goes to (the caller does the channel swap)
 *
 * value(c) = (w0 * r0[ofs + c] + w1 * r0[ofs + 3 + c]) * k0[c] + (same on r1) * k1[c] + bias[c], with
 * k0[c] = a[c] * (1 - wy) / 2^14 and k1[c] = a[c] * wy / 2^14
 *
 * The x86 path does four output pixels per step: per pixel and row one unaligned 16-byte load (both taps, all
 * three channels), one pshufb that spreads (B0, B1, G0, G1, R0, R1) into int16 lanes, one pmaddwd with the weight
 * pairs (three exact int32 sums), then float math; a 4x4 transpose turns four pixels' (B, G, R, -) into one
 * 4-wide store per plane. The 16-byte load reads up to 10 bytes past the taps, so the caller runs it only on
 * the leading ``n_simd`` pixels whose load stays inside the row; the scalar loop below does the rest (and
 * everything on other CPUs) with the same integer weights and the same float operations. */

#include <stdint.h>
#include <stddef.h>

static inline void ss_resize_row_scalar(const uint8_t *r0, const uint8_t *r1, const int32_t *ofs,
                                        const int16_t *wx, ptrdiff_t start, ptrdiff_t n, float *p0, float *p1,
                                        float *p2, const float *k0, const float *k1, const float *bias) {
    float *planes[3] = {p0, p1, p2};
    for (ptrdiff_t x = start; x < n; x++) {
        const int32_t o = ofs[x];
        const int32_t w0 = wx[8 * x], w1 = wx[8 * x + 1];
        for (int c = 0; c < 3; c++) {
            const int32_t h0 = w0 * r0[o + c] + w1 * r0[o + 3 + c];
            const int32_t h1 = w0 * r1[o + c] + w1 * r1[o + 3 + c];
            planes[c][x] = (float)h0 * k0[c] + (float)h1 * k1[c] + bias[c];
        }
    }
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define SS_HAVE_X86 1

static int ss_simd_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("ssse3");
}

__attribute__((target("ssse3"))) static inline __m128 ss_pixel(const uint8_t *r0, const uint8_t *r1, int32_t o,
                                                               const int16_t *w, __m128i spread, __m128 k0,
                                                               __m128 k1, __m128 bias) {
    const __m128i wv = _mm_loadu_si128((const __m128i *)w);
    const __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(r0 + o)), spread);
    const __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(r1 + o)), spread);
    const __m128 h0 = _mm_cvtepi32_ps(_mm_madd_epi16(a, wv));
    const __m128 h1 = _mm_cvtepi32_ps(_mm_madd_epi16(b, wv));
    return _mm_add_ps(_mm_add_ps(_mm_mul_ps(h0, k0), _mm_mul_ps(h1, k1)), bias);
}

__attribute__((target("ssse3"))) static void ss_resize_row_simd(const uint8_t *r0, const uint8_t *r1,
                                                                const int32_t *ofs, const int16_t *wx,
                                                                ptrdiff_t n_simd, float *p0, float *p1,
                                                                float *p2, const float *k0, const float *k1,
                                                                const float *bias) {
    /* bytes (B0, B1, G0, G1, R0, R1) of the 6 at the load's start, each zero-extended to int16; -1 gives 0 */
    const __m128i spread = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    const __m128 vk0 = _mm_setr_ps(k0[0], k0[1], k0[2], 0.0f);
    const __m128 vk1 = _mm_setr_ps(k1[0], k1[1], k1[2], 0.0f);
    const __m128 vb = _mm_setr_ps(bias[0], bias[1], bias[2], 0.0f);
    for (ptrdiff_t x = 0; x + 4 <= n_simd; x += 4) {
        __m128 v0 = ss_pixel(r0, r1, ofs[x], wx + 8 * x, spread, vk0, vk1, vb);
        __m128 v1 = ss_pixel(r0, r1, ofs[x + 1], wx + 8 * (x + 1), spread, vk0, vk1, vb);
        __m128 v2 = ss_pixel(r0, r1, ofs[x + 2], wx + 8 * (x + 2), spread, vk0, vk1, vb);
        __m128 v3 = ss_pixel(r0, r1, ofs[x + 3], wx + 8 * (x + 3), spread, vk0, vk1, vb);
        _MM_TRANSPOSE4_PS(v0, v1, v2, v3);
        _mm_storeu_ps(p0 + x, v0);
        _mm_storeu_ps(p1 + x, v1);
        _mm_storeu_ps(p2 + x, v2);
    }
}
#else
#define SS_HAVE_X86 0
static int ss_simd_available(void) { return 0; }
#endif

/* The whole row: the SIMD steps where allowed (``simd`` and n_simd a multiple of 4), the scalar loop after. */
static inline void ss_resize_row(const uint8_t *r0, const uint8_t *r1, const int32_t *ofs, const int16_t *wx,
                                 ptrdiff_t n, ptrdiff_t n_simd, float *p0, float *p1, float *p2, float wy,
                                 const float *a, const float *bias, int simd) {
    float k0[3], k1[3];
    for (int c = 0; c < 3; c++) {
        k0[c] = (float)((double)a[c] * (1.0 - wy) / 16384.0);
        k1[c] = (float)((double)a[c] * wy / 16384.0);
    }
    ptrdiff_t done = 0;
#if SS_HAVE_X86
    if (simd) {
        ss_resize_row_simd(r0, r1, ofs, wx, n_simd, p0, p1, p2, k0, k1, bias);
        done = n_simd;
    }
#endif
    ss_resize_row_scalar(r0, r1, ofs, wx, done, n, p0, p1, p2, k0, k1, bias);
}

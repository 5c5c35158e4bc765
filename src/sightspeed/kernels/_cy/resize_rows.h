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
 * The x86 steps (SSSE3: four output pixels, AVX2 + FMA: eight): per pixel and row one unaligned 16-byte load
 * (both taps, all three channels), one pshufb that spreads (B0, B1, G0, G1, R0, R1) into int16 lanes, one pmaddwd
 * with the weight pairs (three exact int32 sums), then float math; a 4x4 transpose (lane-wise for AVX2) turns the
 * pixels' (B, G, R, -) into whole-vector stores per plane. The 16-byte load reads up to 10 bytes past the taps,
 * so the caller runs it only on the leading ``n_simd`` pixels whose load stays inside the row; the scalar loop
 * does the rest (and everything on other CPUs) with the same integer weights and float operations (AVX2 fuses
 * the multiply-adds: within float rounding of it). */

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

/* 2: AVX2 + FMA (eight pixels a step), 1: SSSE3 (four), 0: the scalar loop only */
static int ss_simd_available(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 2;
    return __builtin_cpu_supports("ssse3") ? 1 : 0;
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

__attribute__((target("ssse3"))) static void ss_resize_row_ssse3(const uint8_t *r0, const uint8_t *r1,
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
/* Two pixels in one 256-bit register, one per 128-bit lane (vpshufb and vpmaddwd work lane by lane). */
__attribute__((target("avx2,fma"))) static inline __m256i ss_pair(const uint8_t *a, const uint8_t *b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                   _mm_loadu_si128((const __m128i *)b), 1);
}

__attribute__((target("avx2,fma"))) static inline __m256 ss_pixels2(const uint8_t *r0, const uint8_t *r1,
                                                                    int32_t oa, int32_t ob, const int16_t *wa,
                                                                    const int16_t *wb, __m256i spread, __m256 k0,
                                                                    __m256 k1, __m256 bias) {
    const __m256i wv = ss_pair((const uint8_t *)wa, (const uint8_t *)wb);
    const __m256 h0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_shuffle_epi8(ss_pair(r0 + oa, r0 + ob), spread), wv));
    const __m256 h1 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_shuffle_epi8(ss_pair(r1 + oa, r1 + ob), spread), wv));
    return _mm256_fmadd_ps(h0, k0, _mm256_fmadd_ps(h1, k1, bias));
}

/* Eight output pixels a step: register j holds pixels x + j (low lane) and x + 4 + j (high lane), so the
 * lane-wise 4x4 transpose leaves B0..B7, G0..G7, R0..R7 in order for one 8-wide store per plane. Returns the
 * number of pixels done. */
__attribute__((target("avx2,fma"))) static ptrdiff_t ss_resize_row_avx2(const uint8_t *r0, const uint8_t *r1,
                                                                        const int32_t *ofs, const int16_t *wx,
                                                                        ptrdiff_t n_simd, float *p0, float *p1,
                                                                        float *p2, const float *k0,
                                                                        const float *k1, const float *bias) {
    const __m256i spread = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
                                            0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    const __m256 vk0 = _mm256_setr_ps(k0[0], k0[1], k0[2], 0.0f, k0[0], k0[1], k0[2], 0.0f);
    const __m256 vk1 = _mm256_setr_ps(k1[0], k1[1], k1[2], 0.0f, k1[0], k1[1], k1[2], 0.0f);
    const __m256 vb = _mm256_setr_ps(bias[0], bias[1], bias[2], 0.0f, bias[0], bias[1], bias[2], 0.0f);
    ptrdiff_t x = 0;
    for (; x + 8 <= n_simd; x += 8) {
        __m256 v[4];
        for (int j = 0; j < 4; j++)
            v[j] = ss_pixels2(r0, r1, ofs[x + j], ofs[x + 4 + j], wx + 8 * (x + j), wx + 8 * (x + 4 + j), spread,
                              vk0, vk1, vb);
        const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]); /* B0 B1 G0 G1 | B4 B5 G4 G5 */
        const __m256 t1 = _mm256_unpackhi_ps(v[0], v[1]); /* R0 R1 -  -  | R4 R5 -  -  */
        const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]);
        const __m256 t3 = _mm256_unpackhi_ps(v[2], v[3]);
        _mm256_storeu_ps(p0 + x, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
        _mm256_storeu_ps(p1 + x, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
        _mm256_storeu_ps(p2 + x, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
    }
    return x;
}
#else
#define SS_HAVE_X86 0
static int ss_simd_available(void) { return 0; }
#endif

/* The whole row: the widest SIMD step ``simd`` allows (2: AVX2, 1: SSSE3) over the first n_simd pixels (a
 * multiple of 4), the scalar loop after. */
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
    if (simd >= 2) {
        done = ss_resize_row_avx2(r0, r1, ofs, wx, n_simd, p0, p1, p2, k0, k1, bias);
    } else if (simd == 1) {
        ss_resize_row_ssse3(r0, r1, ofs, wx, n_simd, p0, p1, p2, k0, k1, bias);
        done = n_simd;
    }
#endif
    ss_resize_row_scalar(r0, r1, ofs, wx, done, n, p0, p1, p2, k0, k1, bias);
}

/* The composite kernel's row loops: the mask row spread to three channels (m3), then
 * out = round((f * a + b * (255 - a)) / 255), exact in 16-bit integers, over the row's bytes. Plain C that gcc
 * vectorises; on x86 with gcc/clang and glibc each loop is compiled twice (``target_clones``: AVX2, and the x86-64
 * baseline, SSE2) and the loader picks the clone for the CPU it runs on, so one build serves every x86 CPU at its
 * widest vectors. The spread loop was Cython before, and scalar: composite FHD (input in cache) took 0.95 ms with
 * SSE2 blend loops, 0.85 with AVX2 ones, 0.60 with the spread here too. */

#include <stddef.h>
#include <stdint.h>

/* target_clones needs the loader's ifunc support: glibc has it (musl does not; there the baseline loop runs) */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define SS_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef SS_CLONES
#define SS_CLONES
#endif

/* round((f * a + b * (255 - a)) / 255), exact: with t = f * a + b * (255 - a) + 128, (t + (t >> 8)) >> 8 */
static inline uint8_t ss_blend_level(uint8_t f, uint8_t b, uint16_t a) {
    const uint16_t t = (uint16_t)(f * a + b * (255 - a) + 128);
    return (uint8_t)((t + (t >> 8)) >> 8);
}

SS_CLONES static void ss_blend_into(const uint8_t *f, const uint8_t *b, const uint16_t *m3, uint8_t *o,
                                    ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++)
        o[i] = ss_blend_level(f[i], b[i], m3[i]);
}

/* Its own loop: with ``o`` and ``b`` as two pointers to the same bytes gcc's runtime overlap check fails and the
 * scalar loop runs. */
SS_CLONES static void ss_blend_in_place(const uint8_t *f, uint8_t *b, const uint16_t *m3, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++)
        b[i] = ss_blend_level(f[i], b[i], m3[i]);
}

/* The mask row spread to three channels (m3[3 x + c] = m[x]) as uint16, the blend loops' weights. */
SS_CLONES static void ss_spread3(const uint8_t *m, uint16_t *m3, ptrdiff_t w) {
    for (ptrdiff_t x = 0; x < w; x++) {
        const uint16_t a = m[x];
        m3[3 * x] = a;
        m3[3 * x + 1] = a;
        m3[3 * x + 2] = a;
    }
}

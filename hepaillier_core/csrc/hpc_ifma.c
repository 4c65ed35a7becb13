/* hpc_ifma: AVX-512 IFMA eight-lane Montgomery arithmetic (see hpc_ifma.h).
 *
 * A product accumulates into 2m unnormalised 64-bit columns: row i adds the
 * low and high 52-bit halves of a_j b_i and of q_i N_j, four terms below 2^52
 * per row and column, so a column holds at most 4 (m + 1) 2^52 + carries
 * (m < 1000 keeps that below 2^64).  The reduction digit q_i is taken from the
 * column once the row's low terms are in, exactly as in the AVX2 lanes.
 */
#include "hpc_ifma.h"

#include <stdlib.h>
#include <string.h>

#include "hpc.h"

#if defined(__x86_64__) && ((defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8) || \
                            (defined(__clang__) && __clang_major__ >= 8))
#define HPC_HAVE_IFMA 1
#include <immintrin.h>
#define ZFN __attribute__((target("avx512f,avx512ifma")))
#endif

#define ZR 52
#define ZMASK (((uint64_t)1 << ZR) - 1)

struct hpc_zmod {
    int L, m;
    uint64_t ninv;          /* -N^-1 mod 2^52 */
    uint64_t *N;            /* m digits of N (broadcast at use) */
    uint64_t *one, *unit, *r2; /* R mod N, 1, R^2 mod N: eight-lane numbers */
    mp_limb_t *N64;
};

int hpc_ifma_supported(void) {
#ifdef HPC_HAVE_IFMA
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
#else
    return 0;
#endif
}

int hpc_ifma_digits(int L) { return (int)((64L * L + 2 + ZR - 1) / ZR); }

uint64_t *hpc_zalloc(size_t words) {
    size_t bytes = (words * 8 + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

int hpc_zmod_rbits(const hpc_zmod *z) { return ZR * z->m; }
size_t hpc_zwords(const hpc_zmod *z) { return 8 * (size_t)z->m; }
size_t hpc_zscratch(const hpc_zmod *z) { return 8 * (2 * (size_t)z->m + 2); }
const uint64_t *hpc_zconst_one(const hpc_zmod *z) { return z->one; }
const uint64_t *hpc_zconst_unit(const hpc_zmod *z) { return z->unit; }
const uint64_t *hpc_zconst_r2(const hpc_zmod *z) { return z->r2; }

void hpc_zcopy_lane(const hpc_zmod *z, uint64_t *dst, int ldst, const uint64_t *src, int lsrc) {
    for (int j = 0; j < z->m; j++) dst[8 * j + ldst] = src[8 * j + lsrc];
}

void hpc_zset(const hpc_zmod *z, uint64_t *dst, int lane, const mp_limb_t *x) {
    unsigned __int128 buf = 0;
    int have = 0, w = 0;
    uint64_t *d = dst + lane;
    for (int j = 0; j < z->m; j++) {
        if (have < ZR) {
            if (w < z->L) buf |= (unsigned __int128)x[w++] << have;
            have += 64;
        }
        d[8 * j] = (uint64_t)buf & ZMASK;
        buf >>= ZR;
        have -= ZR;
    }
}

void hpc_zget(const hpc_zmod *z, const uint64_t *src, int lane, mp_limb_t *x) {
    hpc_ct_lane_to_limbs(src + lane, 8, ZR, z->m, x, z->L, z->N64);
}

static void zbroadcast(const hpc_zmod *z, uint64_t *dst, const mpz_t x, mp_limb_t *tmp) {
    size_t cnt = 0;
    memset(tmp, 0, z->L * sizeof(mp_limb_t));
    mpz_export(tmp, &cnt, -1, sizeof(mp_limb_t), 0, 0, x);
    for (int l = 0; l < 8; l++) hpc_zset(z, dst, l, tmp);
}

void hpc_zmod_free(hpc_zmod *z) {
    if (!z) return;
    free(z->N);
    free(z->one);
    free(z->unit);
    free(z->r2);
    free(z->N64);
    free(z);
}

hpc_zmod *hpc_zmod_new(const mp_limb_t *N, int L) {
    if (!hpc_ifma_supported() || L < 1 || L > HPC_VEC_MAX_LIMBS || !(N[0] & 1)) return NULL;
    hpc_zmod *z = calloc(1, sizeof(*z));
    if (!z) return NULL;
    z->L = L;
    z->m = hpc_ifma_digits(L);
    size_t W = 8 * (size_t)z->m;
    z->N = malloc((size_t)z->m * sizeof(uint64_t));
    z->one = hpc_zalloc(W);
    z->unit = hpc_zalloc(W);
    z->r2 = hpc_zalloc(W);
    z->N64 = malloc(L * sizeof(mp_limb_t));
    mp_limb_t *tmp = calloc((size_t)L, sizeof(mp_limb_t));
    if (!z->N || !z->one || !z->unit || !z->r2 || !z->N64 || !tmp) {
        free(tmp);
        hpc_zmod_free(z);
        return NULL;
    }
    memcpy(z->N64, N, L * sizeof(mp_limb_t));
    mpz_t Nz, R, t;
    mpz_inits(Nz, R, t, NULL);
    mpz_import(Nz, L, -1, sizeof(mp_limb_t), 0, 0, N);
    for (int j = 0; j < z->m; j++) {
        mpz_tdiv_q_2exp(t, Nz, (mp_bitcnt_t)ZR * j);
        mpz_fdiv_r_2exp(t, t, ZR);
        z->N[j] = mpz_get_ui(t);
    }
    mpz_set_ui(R, 1);
    mpz_mul_2exp(R, R, ZR);
    mpz_invert(t, Nz, R);
    mpz_sub(t, R, t);
    z->ninv = mpz_get_ui(t);
    mpz_set_ui(R, 1);
    mpz_mul_2exp(R, R, (mp_bitcnt_t)ZR * z->m);
    mpz_mod(R, R, Nz);
    zbroadcast(z, z->one, R, tmp);
    mpz_mul(t, R, R);
    mpz_mod(t, t, Nz);
    zbroadcast(z, z->r2, t, tmp);
    mpz_set_ui(t, 1);
    zbroadcast(z, z->unit, t, tmp);
    mpz_clears(Nz, R, t, NULL);
    free(tmp);
    return z;
}

#ifdef HPC_HAVE_IFMA

#define LO(acc, x, y) _mm512_madd52lo_epu64((acc), (x), (y))
#define HI(acc, x, y) _mm512_madd52hi_epu64((acc), (x), (y))
#define BC(w) _mm512_set1_epi64((long long)(w))

/* columns m .. 2m-1 of a product carried into m normalised digits (the value is
 * below 2N < R): the last step of zmul and zsqr */
ZFN static inline void znormalise(uint64_t *out, const __m512i *cols, int m) {
    const __m512i M = BC(ZMASK);
    __m512i c = _mm512_setzero_si512();
    __m512i *o = (__m512i *)out;
    for (int j = 0; j < m; j++) {
        __m512i x = _mm512_add_epi64(cols[j], c);
        o[j] = _mm512_and_si512(x, M);
        c = _mm512_srli_epi64(x, ZR);
    }
}

/* out = a b R^-1 mod N (below 2N).  Rows go in pairs (b_i, b_i+1 with their
 * q_i, q_i+1): each column load/store then carries eight multiply-adds. */
ZFN static void zmul(const hpc_zmod *z, uint64_t *out, const uint64_t *a_, const uint64_t *b_,
                     __m512i *acc) {
    const int m = z->m;
    const __m512i *a = (const __m512i *)a_, *b = (const __m512i *)b_;
    const uint64_t *N = z->N;
    const __m512i zero = _mm512_setzero_si512();
    const __m512i ninv = BC(z->ninv);
    for (int j = 0; j < 2 * m + 2; j++) acc[j] = zero;
    int i = 0;
    for (; i + 2 <= m; i += 2) {
        const __m512i b0 = b[i], b1 = b[i + 1];
        __m512i *ac = acc + i;
        /* row i, column i: its q, carry into column i+1 */
        __m512i t0 = LO(ac[0], a[0], b0);
        const __m512i q0 = LO(zero, t0, ninv);
        t0 = LO(t0, BC(N[0]), q0);
        /* column i+1: row i's terms, then row i+1's first ones and its q */
        __m512i t1 = _mm512_add_epi64(ac[1], _mm512_srli_epi64(t0, ZR));
        t1 = HI(t1, a[0], b0);
        t1 = HI(t1, BC(N[0]), q0);
        t1 = LO(t1, a[1], b0);
        t1 = LO(t1, BC(N[1]), q0);
        t1 = LO(t1, a[0], b1);
        const __m512i q1 = LO(zero, t1, ninv);
        t1 = LO(t1, BC(N[0]), q1);
        ac[2] = _mm512_add_epi64(ac[2], _mm512_srli_epi64(t1, ZR));
        /* columns i+2 ..: row i terms j (lo) and j-1 (hi); row i+1 terms j-1 (lo), j-2 (hi) */
        for (int j = 2; j < m; j++) {
            const __m512i nj = BC(N[j]), nj1 = BC(N[j - 1]), nj2 = BC(N[j - 2]);
            __m512i s = ac[j];
            __m512i u = HI(zero, a[j - 1], b0);
            s = LO(s, a[j], b0);
            u = HI(u, nj1, q0);
            s = LO(s, nj, q0);
            u = HI(u, a[j - 2], b1);
            s = LO(s, a[j - 1], b1);
            u = HI(u, nj2, q1);
            s = LO(s, nj1, q1);
            ac[j] = _mm512_add_epi64(s, u);
        }
        /* column i+m: row i's last highs, row i+1's last lows and highs before */
        __m512i s = ac[m];
        s = HI(s, a[m - 1], b0);
        s = HI(s, BC(N[m - 1]), q0);
        s = LO(s, a[m - 1], b1);
        s = LO(s, BC(N[m - 1]), q1);
        s = HI(s, a[m - 2], b1);
        s = HI(s, BC(N[m - 2]), q1);
        ac[m] = s;
        /* column i+m+1: row i+1's last highs */
        ac[m + 1] = HI(HI(ac[m + 1], a[m - 1], b1), BC(N[m - 1]), q1);
    }
    for (; i < m; i++) {
        const __m512i bi = b[i];
        __m512i *ac = acc + i;
        __m512i t0 = LO(ac[0], a[0], bi);
        const __m512i q = LO(zero, t0, ninv);
        t0 = LO(t0, BC(N[0]), q);
        ac[1] = _mm512_add_epi64(ac[1], _mm512_srli_epi64(t0, ZR));
        for (int j = 1; j < m; j++) {
            __m512i s = ac[j];
            __m512i u = HI(zero, a[j - 1], bi);
            s = LO(s, a[j], bi);
            u = HI(u, BC(N[j - 1]), q);
            s = LO(s, BC(N[j]), q);
            ac[j] = _mm512_add_epi64(s, u);
        }
        ac[m] = HI(HI(ac[m], a[m - 1], bi), BC(N[m - 1]), q);
    }
    znormalise(out, acc + m, m);
}

void hpc_zmul(const hpc_zmod *z, uint64_t *out, const uint64_t *a, const uint64_t *b,
              uint64_t *scratch) {
    zmul(z, out, a, b, (__m512i *)scratch);
}

/* out = a^2 R^-1 mod N: the cross products a_i a_j (i < j) once, doubled by a
 * shift of the columns, the squares a_i^2, then the reduction rows (q_i N) in
 * a second pass, two rows at a time: 3 m^2 multiply-adds instead of 4 m^2. */
ZFN static void zsqr(const hpc_zmod *z, uint64_t *out, const uint64_t *a_, __m512i *acc) {
    const int m = z->m;
    const __m512i *a = (const __m512i *)a_;
    const uint64_t *N = z->N;
    const __m512i zero = _mm512_setzero_si512();
    const __m512i ninv = BC(z->ninv);
    for (int j = 0; j < 2 * m + 2; j++) acc[j] = zero;
    /* cross products: column k gets lo(a_i a_(k-i)) and hi(a_i a_(k-i-1)) for k-i > i */
    for (int i = 0; i < m - 1; i++) {
        const __m512i ai = a[i];
        __m512i *ac = acc + i;
        ac[i + 1] = LO(ac[i + 1], ai, a[i + 1]);
        for (int j = i + 2; j < m; j++) ac[j] = HI(LO(ac[j], ai, a[j]), ai, a[j - 1]);
        ac[m] = HI(ac[m], ai, a[m - 1]);
    }
    for (int k = 0; k < 2 * m; k++) acc[k] = _mm512_slli_epi64(acc[k], 1);
    for (int i = 0; i < m; i++) {
        acc[2 * i] = LO(acc[2 * i], a[i], a[i]);
        acc[2 * i + 1] = HI(acc[2 * i + 1], a[i], a[i]);
    }
    /* reduction, two rows per pass as in zmul */
    int i = 0;
    for (; i + 2 <= m; i += 2) {
        __m512i *ac = acc + i;
        __m512i t0 = ac[0];
        const __m512i q0 = LO(zero, t0, ninv);
        t0 = LO(t0, BC(N[0]), q0);
        __m512i t1 = _mm512_add_epi64(ac[1], _mm512_srli_epi64(t0, ZR));
        t1 = HI(t1, BC(N[0]), q0);
        t1 = LO(t1, BC(N[1]), q0);
        const __m512i q1 = LO(zero, t1, ninv);
        t1 = LO(t1, BC(N[0]), q1);
        ac[2] = _mm512_add_epi64(ac[2], _mm512_srli_epi64(t1, ZR));
        for (int j = 2; j < m; j++) {
            const __m512i nj = BC(N[j]), nj1 = BC(N[j - 1]), nj2 = BC(N[j - 2]);
            __m512i s = LO(ac[j], nj, q0);
            __m512i u = HI(zero, nj1, q0);
            s = LO(s, nj1, q1);
            u = HI(u, nj2, q1);
            ac[j] = _mm512_add_epi64(s, u);
        }
        __m512i s = ac[m];
        s = HI(s, BC(N[m - 1]), q0);
        s = LO(s, BC(N[m - 1]), q1);
        s = HI(s, BC(N[m - 2]), q1);
        ac[m] = s;
        ac[m + 1] = HI(ac[m + 1], BC(N[m - 1]), q1);
    }
    for (; i < m; i++) {
        __m512i *ac = acc + i;
        __m512i t0 = ac[0];
        const __m512i q = LO(zero, t0, ninv);
        t0 = LO(t0, BC(N[0]), q);
        ac[1] = _mm512_add_epi64(ac[1], _mm512_srli_epi64(t0, ZR));
        for (int j = 1; j < m; j++) ac[j] = HI(LO(ac[j], BC(N[j]), q), BC(N[j - 1]), q);
        ac[m] = HI(ac[m], BC(N[m - 1]), q);
    }
    znormalise(out, acc + m, m);
}

void hpc_zsqr(const hpc_zmod *z, uint64_t *out, const uint64_t *a, uint64_t *scratch) {
    zsqr(z, out, a, (__m512i *)scratch);
}

/* all ones when a == b, else 0, branch-free (the value barrier keeps it data) */
static inline uint64_t mask_eq(uint64_t a, uint64_t b) {
    uint64_t x = a ^ b;
    uint64_t m = ((x | ((uint64_t)0 - x)) >> 63) - 1;
    __asm__("" : "+r"(m));
    return m;
}

ZFN static void zselect(const hpc_zmod *z, uint64_t *dst, const uint64_t *tab, size_t n,
                        uint64_t d) {
    const int m = z->m;
    __m512i *o = (__m512i *)dst;
    for (int j = 0; j < m; j++) o[j] = _mm512_setzero_si512();
    for (size_t i = 0; i < n; i++) {
        const __m512i mk = BC(mask_eq(i, d));
        const __m512i *t = (const __m512i *)(tab + i * 8 * (size_t)m);
        for (int j = 0; j < m; j++) o[j] = _mm512_or_si512(o[j], _mm512_and_si512(t[j], mk));
    }
}

void hpc_zselect(const hpc_zmod *z, uint64_t *dst, const uint64_t *tab, size_t n, uint64_t d) {
    zselect(z, dst, tab, n, d);
}

#else /* no IFMA in this build: no context is ever made, these are never reached */

void hpc_zmul(const hpc_zmod *z, uint64_t *out, const uint64_t *a, const uint64_t *b,
              uint64_t *scratch) {
    (void)z, (void)out, (void)a, (void)b, (void)scratch;
}

void hpc_zsqr(const hpc_zmod *z, uint64_t *out, const uint64_t *a, uint64_t *scratch) {
    (void)z, (void)out, (void)a, (void)scratch;
}

void hpc_zselect(const hpc_zmod *z, uint64_t *dst, const uint64_t *tab, size_t n, uint64_t d) {
    (void)z, (void)dst, (void)tab, (void)n, (void)d;
}

#endif

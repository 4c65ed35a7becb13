/* hpc_vec: AVX2 four-lane Montgomery arithmetic (see hpc_vec.h).
 *
 * Layout: a number is nl radix-2^r limbs; limb j of lane l sits at [4 j + l],
 * so one 256-bit load gives limb j of all four lanes.  A product accumulates
 * into 2 nl + 1 unnormalised 64-bit columns: every column receives at most
 * 2 nl + 1 products below 2^(2r) (a b terms, or doubled cross terms of a
 * square, plus the q N reduction terms) and small carries, and r is chosen so
 * that (2 nl + 2) 2^(2r) < 2^64.  Values stay below 2N between operations
 * (inputs < 2N and 4N < R = 2^(r nl) give outputs < 2N), so no conditional
 * subtraction happens until the final conversion back to 64-bit limbs.
 */
#include "hpc_vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hpc.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HPC_HAVE_VEC 1
#include <immintrin.h>
#define VEC_FN __attribute__((target("avx2")))
#endif

static int vec_enabled = 1;
static int vec_allowed = 1;

void hpc_vec_enable(int on) { vec_enabled = on; }

void hpc_vec_forbid(void) { vec_allowed = vec_enabled = 0; }

int hpc_vec_available(void) {
#ifdef HPC_HAVE_VEC
    __builtin_cpu_init();
    return vec_allowed && vec_enabled && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

struct hpc_vmod {
    int L;         /* 64-bit limbs of N */
    int nl, r;     /* radix-2^r limbs */
    uint64_t mask; /* 2^r - 1 */
    uint64_t ninv; /* -N^-1 mod 2^r */
    uint64_t *N;   /* N, broadcast to the four lanes */
    uint64_t *R2;   /* R^2 mod N, broadcast: multiplying by it enters Montgomery form */
    uint64_t *one;  /* R mod N, broadcast: 1 in Montgomery form */
    uint64_t *unit; /* the integer 1, broadcast: multiplying by it leaves Montgomery form */
    mp_limb_t *N64;
    uint64_t *fold; /* fold[j nl + i] = limb j of 2^(r (nl + i)) mod N: plain reduction */
};

static void *vec_alloc(size_t words) {
    size_t bytes = (words * 8 + 31) & ~(size_t)31;
    return aligned_alloc(32, bytes ? bytes : 32);
}

uint64_t *hpc_valloc(size_t words) { return vec_alloc(words); }
int hpc_vmod_rbits(const hpc_vmod *m) { return m->r * m->nl; }
size_t hpc_vwords(const hpc_vmod *m) { return 4 * (size_t)m->nl; }
const uint64_t *hpc_vconst_one(const hpc_vmod *m) { return m->one; }
const uint64_t *hpc_vconst_unit(const hpc_vmod *m) { return m->unit; }
const uint64_t *hpc_vconst_r2(const hpc_vmod *m) { return m->R2; }
size_t hpc_vscratch(const hpc_vmod *m) { return 4 * (3 * (size_t)m->nl + 2); }

void hpc_vcopy_lane(const hpc_vmod *m, uint64_t *dst, int ldst, const uint64_t *src, int lsrc) {
    for (int j = 0; j < m->nl; j++) dst[4 * j + ldst] = src[4 * j + lsrc];
}

/* x: Lx limbs -> nlim radix limbs of lane `lane` (a running bit buffer) */
static void vset_wide(const hpc_vmod *m, uint64_t *dst, int lane, const mp_limb_t *x, int Lx,
                      int nlim) {
    unsigned __int128 buf = 0;
    int have = 0, w = 0;
    const int r = m->r;
    const uint64_t mask = m->mask;
    uint64_t *d = dst + lane;
    for (int j = 0; j < nlim; j++) {
        if (have < r) {
            if (w < Lx) buf |= (unsigned __int128)x[w++] << have;
            have += 64;
        }
        d[4 * j] = (uint64_t)buf & mask;
        buf >>= r;
        have -= r;
    }
}

void hpc_vset(const hpc_vmod *m, uint64_t *dst, int lane, const mp_limb_t *x) {
    vset_wide(m, dst, lane, x, m->L, m->nl);
}

void hpc_vget(const hpc_vmod *m, const uint64_t *src, int lane, mp_limb_t *x) {
    hpc_ct_lane_to_limbs(src + lane, 4, m->r, m->nl, x, m->L, m->N64);
}

/* every lane of dst <- x (0 <= x < N), via the L-limb buffer tmp */
static void broadcast(const hpc_vmod *m, uint64_t *dst, const mpz_t x, mp_limb_t *tmp) {
    size_t cnt = 0;
    memset(tmp, 0, m->L * sizeof(mp_limb_t));
    mpz_export(tmp, &cnt, -1, sizeof(mp_limb_t), 0, 0, x);
    for (int l = 0; l < 4; l++) hpc_vset(m, dst, l, tmp);
}

int hpc_vec_allowed(void) { return vec_allowed; }

hpc_vmod *hpc_vmod_new(const mp_limb_t *N, int L) { return hpc_vmod_new_radix(N, L, 0, 0); }

hpc_vmod *hpc_vmod_new_radix(const mp_limb_t *N, int L, int r, int nl) {
#ifdef HPC_HAVE_VEC
    __builtin_cpu_init();
    if (!vec_allowed || !__builtin_cpu_supports("avx2")) return NULL;
#else
    return NULL;
#endif
    hpc_vmod *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    const long bits = 64L * L;
    m->L = L;
    if (r) {
        m->r = r;
        m->nl = nl;
        if (r > 28 || r < 20 || (long)nl * r < bits + 2 || 2L * nl + 2 >= (1L << (64 - 2 * r))) {
            free(m); /* not a radix these kernels can run */
            return NULL;
        }
    } else {
        m->r = 28;
        m->nl = (int)((bits + 2 + m->r - 1) / m->r);
        if (2L * m->nl + 2 >= 256) {
            m->r = 27;
            m->nl = (int)((bits + 2 + m->r - 1) / m->r);
        }
    }
    if (2L * m->nl + 2 >= 1024 || L > HPC_VEC_MAX_LIMBS) { /* beyond any modulus we use */
        free(m);
        return NULL;
    }
    m->mask = ((uint64_t)1 << m->r) - 1;
    m->N = vec_alloc(4 * (size_t)m->nl);
    m->R2 = vec_alloc(4 * (size_t)m->nl);
    m->one = vec_alloc(4 * (size_t)m->nl);
    m->unit = vec_alloc(4 * (size_t)m->nl);
    m->N64 = malloc(L * sizeof(mp_limb_t));
    m->fold = malloc((size_t)m->nl * m->nl * sizeof(uint64_t));
    mp_limb_t *tmp = calloc((size_t)L, sizeof(mp_limb_t));
    uint64_t *lane = vec_alloc(4 * (size_t)m->nl);
    if (!m->N || !m->R2 || !m->one || !m->unit || !m->N64 || !m->fold || !tmp || !lane) {
        free(lane);
        free(tmp);
        hpc_vmod_free(m);
        return NULL;
    }
    memcpy(m->N64, N, L * sizeof(mp_limb_t));
    mpz_t Nz, R, t;
    mpz_inits(Nz, R, t, NULL);
    mpz_import(Nz, L, -1, sizeof(mp_limb_t), 0, 0, N);
    /* ninv = -N^-1 mod 2^r */
    mpz_set_ui(R, 1);
    mpz_mul_2exp(R, R, m->r);
    mpz_invert(t, Nz, R);
    mpz_sub(t, R, t);
    m->ninv = mpz_get_ui(t);
    /* constants, broadcast: R = 2^(r nl) mod N, R^2 mod N, and the integer 1 */
    mpz_set_ui(R, 1);
    mpz_mul_2exp(R, R, (mp_bitcnt_t)m->r * m->nl);
    mpz_mod(R, R, Nz);
    mpz_mul(t, R, R);
    mpz_mod(t, t, Nz);
    memset(tmp, 0, L * sizeof(mp_limb_t));
    tmp[0] = 1;
    for (int l = 0; l < 4; l++) {
        hpc_vset(m, m->N, l, N);
        hpc_vset(m, m->unit, l, tmp);
    }
    broadcast(m, m->one, R, tmp);
    broadcast(m, m->R2, t, tmp);
    /* folding rows 2^(r (nl + i)) mod N, stored column-major for the reduction */
    for (int i = 0; i < m->nl; i++) {
        broadcast(m, lane, R, tmp);
        for (int j = 0; j < m->nl; j++) m->fold[(size_t)j * m->nl + i] = lane[4 * j];
        mpz_mul_2exp(R, R, m->r);
        mpz_mod(R, R, Nz);
    }
    mpz_clears(Nz, R, t, NULL);
    free(tmp);
    free(lane);
    return m;
}

void hpc_vmod_free(hpc_vmod *m) {
    if (!m) return;
    free(m->N);
    free(m->R2);
    free(m->one);
    free(m->unit);
    free(m->N64);
    free(m->fold);
    free(m);
}

#ifdef HPC_HAVE_VEC

/* o[0..nl) <- the columns v[0..nl) carried into normalised limbs; returns the carry */
VEC_FN static inline __m256i carry_out(const hpc_vmod *m, __m256i *o, const __m256i *v) {
    const __m256i M = _mm256_set1_epi64x((long long)m->mask);
    const __m128i sh = _mm_cvtsi32_si128(m->r);
    __m256i c = _mm256_setzero_si256();
    for (int j = 0; j < m->nl; j++) {
        __m256i x = _mm256_add_epi64(v[j], c);
        o[j] = _mm256_and_si256(x, M);
        c = _mm256_srl_epi64(x, sh);
    }
    return c;
}

/* out = a b R^-1 mod N (below 2N); reduction interleaved with the product, two
 * rows (b_i, b_i+1 with their q_i, q_i+1) per pass over the columns: each
 * column load/store then carries four lane products (~10% faster than one row). */
VEC_FN static void vmul(const hpc_vmod *m, uint64_t *out, const uint64_t *a_, const uint64_t *b_, __m256i *acc) {
    const int nl = m->nl;
    const __m256i M = _mm256_set1_epi64x((long long)m->mask);
    const __m256i ninv = _mm256_set1_epi64x((long long)m->ninv);
    const __m128i sh = _mm_cvtsi32_si128(m->r);
    const __m256i *N = (const __m256i *)m->N;
    const __m256i *a = (const __m256i *)a_, *b = (const __m256i *)b_;
    for (int j = 0; j < 2 * nl + 2; j++) acc[j] = _mm256_setzero_si256();
    int i = 0;
    for (; i + 2 <= nl; i += 2) {
        __m256i b0 = b[i], b1 = b[i + 1];
        __m256i *ac = acc + i;
        /* row i: column i, its q, carry into column i+1 */
        __m256i t0 = _mm256_add_epi64(ac[0], _mm256_mul_epu32(a[0], b0));
        __m256i q0 = _mm256_and_si256(_mm256_mul_epu32(_mm256_and_si256(t0, M), ninv), M);
        t0 = _mm256_add_epi64(t0, _mm256_mul_epu32(N[0], q0));
        /* column i+1 complete for row i, plus row i+1's first terms */
        __m256i t1 = _mm256_add_epi64(ac[1], _mm256_srl_epi64(t0, sh));
        t1 = _mm256_add_epi64(t1, _mm256_add_epi64(_mm256_mul_epu32(a[1], b0), _mm256_mul_epu32(N[1], q0)));
        t1 = _mm256_add_epi64(t1, _mm256_mul_epu32(a[0], b1));
        __m256i q1 = _mm256_and_si256(_mm256_mul_epu32(_mm256_and_si256(t1, M), ninv), M);
        t1 = _mm256_add_epi64(t1, _mm256_mul_epu32(N[0], q1));
        ac[2] = _mm256_add_epi64(ac[2], _mm256_srl_epi64(t1, sh));
        /* columns i+2 .. : row i term j and row i+1 term j-1 */
        for (int j = 2; j < nl; j++)
            ac[j] = _mm256_add_epi64(ac[j], _mm256_add_epi64(
                _mm256_add_epi64(_mm256_mul_epu32(a[j], b0), _mm256_mul_epu32(N[j], q0)),
                _mm256_add_epi64(_mm256_mul_epu32(a[j - 1], b1), _mm256_mul_epu32(N[j - 1], q1))));
        ac[nl] = _mm256_add_epi64(ac[nl], _mm256_add_epi64(_mm256_mul_epu32(a[nl - 1], b1), _mm256_mul_epu32(N[nl - 1], q1)));
    }
    for (; i < nl; i++) {
        __m256i bi = b[i];
        __m256i *ac = acc + i;
        __m256i t0 = _mm256_add_epi64(ac[0], _mm256_mul_epu32(a[0], bi));
        __m256i q = _mm256_and_si256(_mm256_mul_epu32(_mm256_and_si256(t0, M), ninv), M);
        t0 = _mm256_add_epi64(t0, _mm256_mul_epu32(N[0], q));
        ac[1] = _mm256_add_epi64(ac[1], _mm256_srl_epi64(t0, sh));
        for (int j = 1; j < nl; j++)
            ac[j] = _mm256_add_epi64(ac[j], _mm256_add_epi64(_mm256_mul_epu32(a[j], bi), _mm256_mul_epu32(N[j], q)));
    }
    carry_out(m, (__m256i *)out, acc + nl);
}

/* out = a^2 R^-1 mod N.  Row i adds a_i^2, reduces column i (every term of
 * it came from earlier rows), then adds q_i N and the doubled cross products
 * a_j 2a_i (j > i) in one pass: 1.5 nl^2 lane products instead of 2 nl^2.
 * Rows go in pairs as in vmul; a pair's column ranges differ by which cross
 * terms exist (j <= i: none, i < j <= i+2: row i's only, beyond: both). */
VEC_FN static void vsqr(const hpc_vmod *m, uint64_t *out, const uint64_t *a_, __m256i *acc) {
    const int nl = m->nl;
    const __m256i M = _mm256_set1_epi64x((long long)m->mask);
    const __m256i ninv = _mm256_set1_epi64x((long long)m->ninv);
    const __m128i sh = _mm_cvtsi32_si128(m->r);
    const __m256i *N = (const __m256i *)m->N;
    const __m256i *a = (const __m256i *)a_;
    for (int j = 0; j < 2 * nl + 2; j++) acc[j] = _mm256_setzero_si256();
    int i = 0;
    for (; i + 2 <= nl; i += 2) {
        __m256i a0 = a[i], a1 = a[i + 1];
        __m256i d0 = _mm256_add_epi64(a0, a0), d1 = _mm256_add_epi64(a1, a1);
        __m256i *ac = acc + i;
        ac[i] = _mm256_add_epi64(ac[i], _mm256_mul_epu32(a0, a0));         /* column 2i */
        ac[i + 2] = _mm256_add_epi64(ac[i + 2], _mm256_mul_epu32(a1, a1)); /* column 2i+2 */
        __m256i q0 = _mm256_and_si256(_mm256_mul_epu32(_mm256_and_si256(ac[0], M), ninv), M);
        __m256i t0 = _mm256_add_epi64(ac[0], _mm256_mul_epu32(N[0], q0));
        __m256i t1 = _mm256_add_epi64(ac[1], _mm256_srl_epi64(t0, sh));
        t1 = _mm256_add_epi64(t1, _mm256_mul_epu32(N[1], q0));
        if (i == 0) t1 = _mm256_add_epi64(t1, _mm256_mul_epu32(a[1], d0));
        __m256i q1 = _mm256_and_si256(_mm256_mul_epu32(_mm256_and_si256(t1, M), ninv), M);
        t1 = _mm256_add_epi64(t1, _mm256_mul_epu32(N[0], q1));
        ac[2] = _mm256_add_epi64(ac[2], _mm256_srl_epi64(t1, sh));
        int j = 2;
        for (; j <= i && j < nl; j++)
            ac[j] = _mm256_add_epi64(ac[j], _mm256_add_epi64(_mm256_mul_epu32(N[j], q0), _mm256_mul_epu32(N[j - 1], q1)));
        for (; j <= i + 2 && j < nl; j++)
            ac[j] = _mm256_add_epi64(ac[j], _mm256_add_epi64(
                _mm256_add_epi64(_mm256_mul_epu32(N[j], q0), _mm256_mul_epu32(a[j], d0)),
                _mm256_mul_epu32(N[j - 1], q1)));
        for (; j < nl; j++)
            ac[j] = _mm256_add_epi64(ac[j], _mm256_add_epi64(
                _mm256_add_epi64(_mm256_mul_epu32(N[j], q0), _mm256_mul_epu32(a[j], d0)),
                _mm256_add_epi64(_mm256_mul_epu32(N[j - 1], q1), _mm256_mul_epu32(a[j - 1], d1))));
        __m256i last = _mm256_mul_epu32(N[nl - 1], q1);
        if (nl - 1 > i + 1) last = _mm256_add_epi64(last, _mm256_mul_epu32(a[nl - 1], d1));
        ac[nl] = _mm256_add_epi64(ac[nl], last);
    }
    for (; i < nl; i++) {
        __m256i ai = a[i];
        __m256i d = _mm256_add_epi64(ai, ai);
        __m256i *ac = acc + i;
        ac[i] = _mm256_add_epi64(ac[i], _mm256_mul_epu32(ai, ai));
        __m256i q = _mm256_and_si256(_mm256_mul_epu32(_mm256_and_si256(ac[0], M), ninv), M);
        __m256i t0 = _mm256_add_epi64(ac[0], _mm256_mul_epu32(N[0], q));
        ac[1] = _mm256_add_epi64(ac[1], _mm256_srl_epi64(t0, sh));
        int j = 1;
        for (; j <= i && j < nl; j++) ac[j] = _mm256_add_epi64(ac[j], _mm256_mul_epu32(N[j], q));
        for (; j < nl; j++)
            ac[j] = _mm256_add_epi64(ac[j], _mm256_add_epi64(_mm256_mul_epu32(a[j], d), _mm256_mul_epu32(N[j], q)));
    }
    carry_out(m, (__m256i *)out, acc + nl);
}

void hpc_vmul(const hpc_vmod *m, uint64_t *out, const uint64_t *a, const uint64_t *b,
              uint64_t *scratch) {
    vmul(m, out, a, b, (__m256i *)scratch);
}

/* columns j < nl of t_low + sum_i t_(nl+i) 2^(r (nl+i)) mod N, then carried:
 * nl + 1 normalised limbs (the value is below nl 2^r N + 2^(r nl)) */
VEC_FN static void vfold(const hpc_vmod *m, uint64_t *out, const uint64_t *t_) {
    const int nl = m->nl;
    const __m256i *t = (const __m256i *)t_, *hi = t + nl;
    __m256i *o = (__m256i *)out;
    /* four columns per pass: each hi[i] load feeds four products */
    int j = 0;
    for (; j + 4 <= nl; j += 4) {
        const uint64_t *c0 = m->fold + (size_t)j * nl, *c1 = c0 + nl, *c2 = c1 + nl, *c3 = c2 + nl;
        __m256i s0 = t[j], s1 = t[j + 1], s2 = t[j + 2], s3 = t[j + 3];
        for (int i = 0; i < nl; i++) {
            __m256i h = hi[i];
            s0 = _mm256_add_epi64(s0, _mm256_mul_epu32(h, _mm256_set1_epi64x((long long)c0[i])));
            s1 = _mm256_add_epi64(s1, _mm256_mul_epu32(h, _mm256_set1_epi64x((long long)c1[i])));
            s2 = _mm256_add_epi64(s2, _mm256_mul_epu32(h, _mm256_set1_epi64x((long long)c2[i])));
            s3 = _mm256_add_epi64(s3, _mm256_mul_epu32(h, _mm256_set1_epi64x((long long)c3[i])));
        }
        o[j] = s0;
        o[j + 1] = s1;
        o[j + 2] = s2;
        o[j + 3] = s3;
    }
    for (; j < nl; j++) {
        const uint64_t *col = m->fold + (size_t)j * nl;
        __m256i s0 = t[j];
        for (int i = 0; i < nl; i++)
            s0 = _mm256_add_epi64(s0, _mm256_mul_epu32(hi[i], _mm256_set1_epi64x((long long)col[i])));
        o[j] = s0;
    }
    o[nl] = carry_out(m, o, o);
}

int hpc_vreduce4(const hpc_vmod *m, const mp_limb_t *t, int lanes, mp_limb_t *out,
                 uint64_t *scratch) {
    const int L = m->L, nl = m->nl;
    uint64_t *wide = scratch, *folded = scratch + 4 * 2 * (size_t)nl;
    for (int l = 0; l < 4; l++)
        vset_wide(m, wide, l, t + (size_t)(l < lanes ? l : 0) * 2 * L, 2 * L, 2 * nl);
    vfold(m, folded, wide);
    mp_limb_t u[2 * HPC_VEC_MAX_LIMBS + 2], q[4];
    for (int l = 0; l < lanes; l++) {
        /* nl + 1 radix limbs -> L + 1 limbs (the value has under 64 L + 2r + 2 bits) */
        memset(u, 0, (L + 1) * sizeof(mp_limb_t));
        for (int j = 0; j <= nl; j++) {
            uint64_t v = folded[4 * j + l];
            size_t off = (size_t)j * m->r, w = off / 64;
            unsigned shb = off % 64;
            if (w <= (size_t)L) u[w] |= v << shb;
            if (shb && w + 1 <= (size_t)L) u[w + 1] |= v >> (64 - shb);
        }
        mpn_tdiv_qr(q, out + (size_t)l * L, 0, u, L + 1, m->N64, L);
    }
    return HPC_OK;
}

void hpc_vsqr(const hpc_vmod *m, uint64_t *out, const uint64_t *a, uint64_t *scratch) {
    vsqr(m, out, a, (__m256i *)scratch);
}

static void copy_lanes(uint64_t *dst, const uint64_t *src, int nl) {
    memcpy(dst, src, 4 * (size_t)nl * sizeof(uint64_t));
}

/* load up to 4 values into lanes (missing lanes repeat lane 0), to Montgomery form */
VEC_FN static void load_mont(const hpc_vmod *m, uint64_t *dst, const mp_limb_t *const a[4],
                             int lanes, uint64_t *tmp, __m256i *acc) {
    for (int l = 0; l < 4; l++) hpc_vset(m, tmp, l, a[l < lanes ? l : 0]);
    vmul(m, dst, tmp, m->R2, acc);
}

/* leave Montgomery form (multiply by 1) and store the lanes as reduced L-limb numbers */
VEC_FN static void store_plain(const hpc_vmod *m, const uint64_t *x, int lanes,
                               mp_limb_t *const out[4], uint64_t *tmp, __m256i *acc) {
    vmul(m, tmp, x, m->unit, acc);
    for (int l = 0; l < lanes; l++) hpc_vget(m, tmp, l, out[l]);
}

static int window_for(size_t ebits) {
    return ebits > 1500 ? 6 : ebits > 400 ? 5 : ebits > 120 ? 4 : ebits > 24 ? 3 : 1;
}

int hpc_vpowm4(const hpc_vmod *m, const mp_limb_t *const a[4], int lanes, mpz_srcptr e,
               mp_limb_t *const out[4]) {
    if (lanes < 1 || lanes > 4) return HPC_ERANGE;
    const size_t nl = (size_t)m->nl, V = 4 * nl;
    if (mpz_sgn(e) == 0) {
        for (int l = 0; l < lanes; l++) {
            memset(out[l], 0, m->L * sizeof(mp_limb_t));
            out[l][0] = 1;
        }
        return HPC_OK;
    }
    size_t ebits = mpz_sizeinbase(e, 2);
    int w = window_for(ebits);
    size_t ntab = (size_t)1 << (w - 1);
    uint64_t *buf = vec_alloc(V * (ntab + 4));
    __m256i *acc = vec_alloc(4 * (2 * nl + 2));
    if (!buf || !acc) {
        free(buf);
        free(acc);
        return HPC_ENOMEM;
    }
    uint64_t *tab = buf, *x2 = buf + ntab * V, *res = x2 + V, *tmp = res + V; /* tmp: 2V */
    load_mont(m, tab, a, lanes, tmp, acc);
    if (ntab > 1) {
        vsqr(m, x2, tab, acc);
        for (size_t i = 1; i < ntab; i++) vmul(m, tab + i * V, tab + (i - 1) * V, x2, acc);
    }
    /* left-to-right sliding window over the shared exponent */
    long i = (long)ebits - 1;
    int started = 0;
    while (i >= 0) {
        if (!mpz_tstbit(e, (mp_bitcnt_t)i)) {
            vsqr(m, res, res, acc);
            i--;
            continue;
        }
        long lo = i - w + 1 < 0 ? 0 : i - w + 1;
        while (!mpz_tstbit(e, (mp_bitcnt_t)lo)) lo++;
        unsigned val = 0;
        for (long b = i; b >= lo; b--) val = (val << 1) | (unsigned)mpz_tstbit(e, (mp_bitcnt_t)b);
        if (!started) {
            copy_lanes(res, tab + (val >> 1) * V, (int)nl);
            started = 1;
        } else {
            for (long b = i; b >= lo; b--) vsqr(m, res, res, acc);
            vmul(m, res, res, tab + (val >> 1) * V, acc);
        }
        i = lo - 1;
    }
    store_plain(m, res, lanes, out, tmp, acc);
    free(buf);
    free(acc);
    return HPC_OK;
}

int hpc_vhorner4(const hpc_vmod *m, const mp_limb_t *x, int lanes, size_t cnt, unsigned shift,
                 mp_limb_t *const out[4]) {
    if (lanes < 1 || lanes > 4 || cnt == 0) return HPC_ERANGE;
    const int L = m->L;
    const size_t nl = (size_t)m->nl, V = 4 * nl;
    uint64_t *buf = vec_alloc(V * 4);
    __m256i *acc = vec_alloc(4 * (2 * nl + 2));
    if (!buf || !acc) {
        free(buf);
        free(acc);
        return HPC_ENOMEM;
    }
    uint64_t *res = buf, *cur = buf + V, *tmp = buf + 2 * V; /* tmp: 2V */
    const mp_limb_t *ptr[4];
    for (size_t jj = cnt; jj-- > 0;) {
        for (int l = 0; l < 4; l++) ptr[l] = x + ((size_t)(l < lanes ? l : 0) * cnt + jj) * L;
        if (jj == cnt - 1) {
            load_mont(m, res, ptr, 4, tmp, acc);
        } else {
            load_mont(m, cur, ptr, 4, tmp, acc);
            for (unsigned s = 0; s < shift; s++) vsqr(m, res, res, acc);
            vmul(m, res, res, cur, acc);
        }
    }
    store_plain(m, res, lanes, out, tmp, acc);
    free(buf);
    free(acc);
    return HPC_OK;
}

#else /* no vector unit: callers never get a context, these are never reached */

void hpc_vmul(const hpc_vmod *m, uint64_t *out, const uint64_t *a, const uint64_t *b,
              uint64_t *scratch) {
    (void)m, (void)out, (void)a, (void)b, (void)scratch;
}

void hpc_vsqr(const hpc_vmod *m, uint64_t *out, const uint64_t *a, uint64_t *scratch) {
    (void)m, (void)out, (void)a, (void)scratch;
}

int hpc_vreduce4(const hpc_vmod *m, const mp_limb_t *t, int lanes, mp_limb_t *out,
                 uint64_t *scratch) {
    (void)m, (void)t, (void)lanes, (void)out, (void)scratch;
    return HPC_ERANGE;
}

int hpc_vpowm4(const hpc_vmod *m, const mp_limb_t *const a[4], int lanes, mpz_srcptr e,
               mp_limb_t *const out[4]) {
    (void)m, (void)a, (void)lanes, (void)e, (void)out;
    return HPC_ERANGE;
}

int hpc_vhorner4(const hpc_vmod *m, const mp_limb_t *x, int lanes, size_t cnt, unsigned shift,
                 mp_limb_t *const out[4]) {
    (void)m, (void)x, (void)lanes, (void)cnt, (void)shift, (void)out;
    return HPC_ERANGE;
}

#endif

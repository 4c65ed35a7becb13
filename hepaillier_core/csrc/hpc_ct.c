/* hpc_ct: side-channel-silent pieces of the key owner's paths (see hpc_ct.h). */
#if !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE 1 /* explicit_bzero in glibc's string.h */
#endif
#include "hpc_ct.h"

#include <stdlib.h>
#include <string.h>

#include "hpc.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CT_HAVE_AVX2 1
#include <immintrin.h>
#define CT_AVX2 __attribute__((target("avx2")))
#endif

void hpc_wipe(void *p, size_t n) {
    if (!p || !n) return;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
    explicit_bzero(p, n);
#else
    volatile unsigned char *v = (volatile unsigned char *)p;
    while (n--) *v++ = 0;
#endif
}

void hpc_wipe_mpz(mpz_t x) {
    /* the whole allocation: a value that shrank leaves its old limbs behind */
    hpc_wipe(x->_mp_d, (size_t)x->_mp_alloc * sizeof(mp_limb_t));
    x->_mp_size = 0;
}

/* all ones when a == b, else 0, with no branch the compiler could introduce */
static inline uint64_t mask_eq(uint64_t a, uint64_t b) {
    uint64_t x = a ^ b;
    uint64_t m = ((x | ((uint64_t)0 - x)) >> 63) - 1;
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+r"(m)); /* value barrier: m stays a data value */
#endif
    return m;
}


/* dst <- tab[d] by one masked pass over all n entries of V words (V % 4 == 0) */
#ifdef CT_HAVE_AVX2
CT_AVX2 static void select_entry(uint64_t *dst, const uint64_t *tab, size_t n, size_t V,
                                 uint64_t d) {
    __m256i *o = (__m256i *)dst;
    const size_t nv = V / 4;
    for (size_t j = 0; j < nv; j++) o[j] = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i++) {
        const __m256i mk = _mm256_set1_epi64x((long long)mask_eq(i, d));
        const __m256i *t = (const __m256i *)(tab + i * V);
        for (size_t j = 0; j < nv; j++) o[j] = _mm256_or_si256(o[j], _mm256_and_si256(t[j], mk));
    }
}
#else
static void select_entry(uint64_t *dst, const uint64_t *tab, size_t n, size_t V, uint64_t d) {
    for (size_t j = 0; j < V; j++) dst[j] = 0;
    for (size_t i = 0; i < n; i++) {
        const uint64_t mk = mask_eq(i, d);
        const uint64_t *t = tab + i * V;
        for (size_t j = 0; j < V; j++) dst[j] |= t[j] & mk;
    }
}
#endif

static int ct_window(size_t ebits) { return ebits > 512 ? 5 : ebits > 96 ? 4 : 3; }

int hpc_ct_vpowm4(const hpc_vmod *m, const mp_limb_t *const a[4], int lanes, const mp_limb_t *e,
                  int ne, size_t ebits, mp_limb_t *const out[4]) {
    if (lanes < 1 || lanes > 4 || ebits == 0 || ne < 1) return HPC_ERANGE;
    const size_t V = hpc_vwords(m);
    const int w = ct_window(ebits);
    const size_t ntab = (size_t)1 << w;
    const size_t words = V * (ntab + 3), swords = hpc_vscratch(m);
    uint64_t *buf = hpc_valloc(words), *scr = hpc_valloc(swords);
    if (!buf || !scr) {
        free(buf);
        free(scr);
        return HPC_ENOMEM;
    }
    uint64_t *tab = buf, *acc = buf + ntab * V, *sel = acc + V, *tmp = sel + V;
    for (int l = 0; l < 4; l++) hpc_vset(m, tmp, l, a[l < lanes ? l : 0]);
    /* tab[i] = a^i (Montgomery form); tab[0] = 1 so a zero digit costs the same */
    memcpy(tab, hpc_vconst_one(m), V * sizeof(uint64_t));
    hpc_vmul(m, tab + V, tmp, hpc_vconst_r2(m), scr);
    for (size_t i = 2; i < ntab; i++) hpc_vmul(m, tab + i * V, tab + (i - 1) * V, tab + V, scr);
    const size_t nd = (ebits + (size_t)w - 1) / (size_t)w;
    select_entry(acc, tab, ntab, V, hpc_ct_digit_at(e, ne, ebits, (nd - 1) * (size_t)w, w));
    for (size_t d = nd - 1; d-- > 0;) {
        for (int s = 0; s < w; s++) hpc_vsqr(m, acc, acc, scr);
        select_entry(sel, tab, ntab, V, hpc_ct_digit_at(e, ne, ebits, d * (size_t)w, w));
        hpc_vmul(m, acc, acc, sel, scr);
    }
    hpc_vmul(m, acc, acc, hpc_vconst_unit(m), scr); /* leave Montgomery form: below N */
    for (int l = 0; l < lanes; l++) hpc_vget(m, acc, l, out[l]);
    hpc_wipe(buf, words * sizeof(uint64_t));
    hpc_wipe(scr, swords * sizeof(uint64_t));
    free(buf);
    free(scr);
    return HPC_OK;
}

size_t hpc_ct_itch(int Lmax, int Lin) {
    mp_size_t big = Lin > 2 * Lmax ? Lin : 2 * Lmax;
    mp_size_t a = 0;
    for (mp_size_t dn = 1; dn <= Lmax; dn++) {
        mp_size_t x = mpn_sec_div_r_itch(big + 1, dn);
        if (x > a) a = x;
    }
    mp_size_t b = mpn_sec_mul_itch(Lmax, Lmax);
    mp_size_t c = mpn_sec_sub_1_itch(big);
    mp_size_t it = a > b ? a : b;
    if (c > it) it = c;
    return (size_t)(4 * (big + 2) + it);
}

void hpc_ct_mod(mp_limb_t *dst, const mp_limb_t *src, int Ls, const mp_limb_t *d, int Ld,
                mp_limb_t *scratch) {
    mp_limb_t *t = scratch;
    memcpy(t, src, (size_t)Ls * sizeof(mp_limb_t));
    mpn_sec_div_r(t, Ls, d, Ld, scratch + Ls);
    memcpy(dst, t, (size_t)Ld * sizeof(mp_limb_t));
}

int hpc_ct_lfun(mp_limb_t *dst, const mp_limb_t *y, int Lp2, const mp_limb_t *prime,
                const mp_limb_t *pinv, const mp_limb_t *h, int Lp, mp_limb_t *scratch) {
    mp_limb_t *y1 = scratch, *t = y1 + Lp2 + 1, *it = t + 2 * (size_t)Lp + Lp2 + 2;
    /* valid <=> y mod prime == 1, tested without an early exit */
    memcpy(t, y, (size_t)Lp2 * sizeof(mp_limb_t));
    mpn_sec_div_r(t, Lp2, prime, Lp, it);
    mp_limb_t diff = t[0] ^ 1;
    for (int i = 1; i < Lp; i++) diff |= t[i];
    int valid = (int)(mask_eq(diff, 0) & 1);
    /* (y - 1) / prime exactly: (y - 1) prime^-1 mod 2^(64 Lp) (the quotient is below prime) */
    mpn_sec_sub_1(y1, y, Lp2, 1, it);
    mpn_sec_mul(t, y1, Lp, pinv, Lp, it);
    memcpy(y1, t, (size_t)Lp * sizeof(mp_limb_t));
    mpn_sec_mul(t, y1, Lp, h, Lp, it);
    mpn_sec_div_r(t, 2 * (mp_size_t)Lp, prime, Lp, it);
    memcpy(dst, t, (size_t)Lp * sizeof(mp_limb_t));
    return valid;
}

void hpc_ct_crt(mp_limb_t *dst, int Ln, const mp_limb_t *mp, const mp_limb_t *p, int Lp,
                const mp_limb_t *mq, const mp_limb_t *q, int Lq, const mp_limb_t *qinv,
                mp_limb_t *scratch) {
    mp_limb_t *t = scratch, *x = t + Lp + Lq + 2, *u = x + Lp + Lq + 1;
    mp_limb_t *it = u + 2 * (size_t)Lp + 1;
    /* t = mp + p - mq in (0, 2p), then mod p */
    t[Lp] = mpn_add_n(t, mp, p, Lp);
    memset(x, 0, (size_t)(Lp + 1) * sizeof(mp_limb_t));
    memcpy(x, mq, (size_t)Lq * sizeof(mp_limb_t));
    mpn_sub_n(t, t, x, Lp + 1);
    mpn_sec_div_r(t, Lp + 1, p, Lp, it);
    mpn_sec_mul(u, t, Lp, qinv, Lp, it);
    mpn_sec_div_r(u, 2 * (mp_size_t)Lp, p, Lp, it);
    mpn_sec_mul(t, u, Lp, q, Lq, it); /* t: Lp + Lq limbs */
    memset(x, 0, (size_t)(Lp + Lq) * sizeof(mp_limb_t));
    memcpy(x, mq, (size_t)Lq * sizeof(mp_limb_t));
    mpn_add_n(t, t, x, Lp + Lq);
    memcpy(dst, t, (size_t)Ln * sizeof(mp_limb_t));
}

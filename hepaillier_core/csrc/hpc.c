/* hpc: arithmetic kernels of hepaillier_core.  See hpc.h. */
#include "hpc.h"

#include "hpc_dispatch.h"

#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/random.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* OS CSPRNG                                                           */

static int os_random(void *buf, size_t len) {
    unsigned char *p = (unsigned char *)buf;
#if defined(__linux__)
    while (len > 0) {
        ssize_t got = getrandom(p, len, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return HPC_ERANDOM;
        }
        p += got;
        len -= (size_t)got;
    }
    return HPC_OK;
#else
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0) return HPC_ERANDOM;
    while (len > 0) {
        ssize_t got = read(fd, p, len);
        if (got <= 0) {
            if (got < 0 && errno == EINTR) continue;
            close(fd);
            return HPC_ERANDOM;
        }
        p += got;
        len -= (size_t)got;
    }
    close(fd);
    return HPC_OK;
#endif
}

/* x <- uniform integer in [lo, bound) by rejection (exact distribution). */
static int random_below(mpz_t x, const mpz_t bound, unsigned long lo) {
    size_t bits = mpz_sizeinbase(bound, 2);
    size_t nbytes = (bits + 7) / 8;
    unsigned char buf[1024];
    if (nbytes > sizeof(buf)) return HPC_ERANGE;
    for (;;) {
        if (os_random(buf, nbytes) != HPC_OK) return HPC_ERANDOM;
        unsigned extra = (unsigned)(nbytes * 8 - bits);
        buf[0] &= (unsigned char)(0xFFu >> extra);
        mpz_import(x, nbytes, 1, 1, 0, 0, buf);
        if (mpz_cmp(x, bound) < 0 && mpz_cmp_ui(x, lo) >= 0) break;
    }
    hpc_wipe(buf, nbytes);
    return HPC_OK;
}

/* x <- uniform integer in [0, 2^bits) */
static int random_bits(mpz_t x, unsigned bits) {
    size_t nbytes = (bits + 7) / 8;
    unsigned char buf[1024];
    if (nbytes > sizeof(buf)) return HPC_ERANGE;
    if (os_random(buf, nbytes) != HPC_OK) return HPC_ERANDOM;
    unsigned extra = (unsigned)(nbytes * 8 - bits);
    buf[0] &= (unsigned char)(0xFFu >> extra);
    mpz_import(x, nbytes, 1, 1, 0, 0, buf);
    hpc_wipe(buf, nbytes);
    return HPC_OK;
}

/* ------------------------------------------------------------------ */
/* limb helpers                                                         */

static void mpz_to_limbs(mp_limb_t *dst, int L, const mpz_t x) {
    size_t s = mpz_size(x);
    if (s > (size_t)L) s = (size_t)L; /* callers guarantee x fits */
    if (s) memcpy(dst, mpz_limbs_read(x), s * sizeof(mp_limb_t));
    if ((size_t)L > s) memset(dst + s, 0, ((size_t)L - s) * sizeof(mp_limb_t));
}

static mpz_srcptr ro(mpz_t tmp, const mp_limb_t *p, int L) { return mpz_roinit_n(tmp, p, L); }

/* ------------------------------------------------------------------ */
/* Montgomery arithmetic                                                */

static mp_limb_t neg_inv_limb(mp_limb_t n) {
    mp_limb_t x = n; /* Newton: correct to 3 bits, doubles each step */
    for (int i = 0; i < 6; i++) x *= 2 - n * x;
    return (mp_limb_t)0 - x;
}

/* x <- x / 2^kfix mod N for x < N: add the multiple of N that clears the low
 * kfix bits, then shift (about 1/L of a product) */
static inline void shift_down(const hpc_mod *m, mp_limb_t *x) {
    const int k = m->kfix, L = m->L;
    if (!k) return;
    mp_limb_t q = (x[0] * m->ninv) & (((mp_limb_t)1 << k) - 1);
    mp_limb_t hi = mpn_addmul_1(x, m->N, L, q);
    mpn_rshift(x, x, L, (unsigned)k);
    x[L - 1] |= hi << (64 - k);
    hi >>= k;
    if (hi || mpn_cmp(x, m->N, L) >= 0) mpn_sub_n(x, x, m->N, L);
}

/* GMP's REDC (assembly per CPU in a fat build: mulx/adx on recent x86) is not
 * in gmp.h but every GMP 6 library exports it; a weak reference is NULL when
 * the GMP we run with does not, and the addmul_1 loop below (same result) runs. */
#if __GNU_MP_VERSION >= 6 && defined(__GNUC__) && defined(__ELF__)
extern mp_limb_t __gmpn_redc_1(mp_ptr rp, mp_ptr up, mp_srcptr mp, mp_size_t n, mp_limb_t invm)
    __attribute__((weak));
#define HPC_GMP_REDC 1
#endif

int hpc_scalar_redc_asm(void) {
#ifdef HPC_GMP_REDC
    return __gmpn_redc_1 != NULL;
#else
    return 0;
#endif
}

static inline void redc(const hpc_mod *m, mp_limb_t *r, mp_limb_t *t) {
    const int L = m->L;
    const mp_limb_t *N = m->N;
    const mp_limb_t ninv = m->ninv;
    mp_limb_t c;
#ifdef HPC_GMP_REDC
    if (__gmpn_redc_1) {
        c = __gmpn_redc_1(r, t, N, L, ninv); /* r = (t + q N) / 2^(64 L), below 2N */
    } else
#endif
    {
        for (int i = 0; i < L; i++) {
            mp_limb_t q = t[i] * ninv;
            t[i] = mpn_addmul_1(t + i, N, L, q); /* low limb is now 0: keep the carry there */
        }
        c = mpn_add_n(r, t + L, t, L);
    }
    if (c || mpn_cmp(r, N, L) >= 0) mpn_sub_n(r, r, N, L);
    shift_down(m, r);
}

void hpc_mont_mul(const hpc_mod *m, mp_limb_t *r, const mp_limb_t *a, const mp_limb_t *b,
                  mp_limb_t *t) {
    if (a == b)
        mpn_sqr(t, a, m->L);
    else
        mpn_mul_n(t, a, b, m->L);
    redc(m, r, t);
}

void hpc_mont_sqr(const hpc_mod *m, mp_limb_t *r, const mp_limb_t *a, mp_limb_t *t) {
    mpn_sqr(t, a, m->L);
    redc(m, r, t);
}

static void from_mont1(const hpc_mod *m, mp_limb_t *r, const mp_limb_t *a, mp_limb_t *t) {
    memcpy(t, a, m->L * sizeof(mp_limb_t));
    memset(t + m->L, 0, m->L * sizeof(mp_limb_t));
    redc(m, r, t);
}

int hpc_mod_init(hpc_mod *m, const mp_limb_t *N, int L) {
    memset(m, 0, sizeof(*m));
    m->L = L;
    m->N = malloc(L * sizeof(mp_limb_t));
    m->R2 = malloc(L * sizeof(mp_limb_t));
    m->one = malloc(L * sizeof(mp_limb_t));
    if (!m->N || !m->R2 || !m->one) {
        hpc_mod_free(m);
        return HPC_ENOMEM;
    }
    memcpy(m->N, N, L * sizeof(mp_limb_t));
    m->ninv = neg_inv_limb(N[0]);
    /* Moduli of 512 bits and more get the lane kernels; all paths then use one
     * R so Montgomery-form data means one thing whichever kernel runs.  With
     * IFMA that is its 2^(52 m), which the AVX2 lanes reach in radix 2^26. */
    m->v = NULL;
    m->z = NULL;
    if (L >= HPC_VEC_MIN_LIMBS && hpc_vec_allowed()) {
        m->z = hpc_zmod_new(N, L);
        m->v = m->z ? hpc_vmod_new_radix(N, L, 26, 2 * hpc_ifma_digits(L)) : hpc_vmod_new(N, L);
    }
    m->kfix = m->z   ? hpc_zmod_rbits(m->z) - 64 * L
              : m->v ? hpc_vmod_rbits(m->v) - 64 * L
                     : 0;
    mpz_t R, Nz, tmp;
    mpz_init(R);
    mpz_init(tmp);
    mpz_set(tmp, ro(Nz, N, L));
    mpz_setbit(R, 64 * (mp_bitcnt_t)L + m->kfix);
    mpz_mod(R, R, tmp);
    mpz_to_limbs(m->one, L, R);
    mpz_mul(R, R, R);
    mpz_mod(R, R, tmp);
    mpz_to_limbs(m->R2, L, R);
    mpz_clear(R);
    mpz_clear(tmp);
    return HPC_OK;
}

void hpc_mod_free(hpc_mod *m) {
    hpc_vmod_free(m->v);
    m->v = NULL;
    hpc_zmod_free(m->z);
    m->z = NULL;
    free(m->N);
    free(m->R2);
    free(m->one);
    m->N = m->R2 = m->one = NULL;
}

/* ------------------------------------------------------------------ */
/* lane work space: nums multi-lane numbers + product scratch, on the engine  */
/* (AVX2 four lanes or IFMA eight, hpc_dispatch.h) the family's choice names  */

typedef struct {
    hpc_eng e;
    int NL;         /* lanes per number */
    size_t V;       /* words per number */
    uint64_t *num;  /* nums numbers, V words apart */
    uint64_t *scr;  /* product scratch */
    const uint64_t *one, *unit, *r2; /* the engine's constants */
} vspace;

/* the lane kernel family `fam` runs on for m, or 0 for the scalar path */
static int lane_kind(const hpc_mod *m, int fam) {
    int k = hpc_kernel(m, fam);
    return k == HPC_K_SCALAR ? 0 : k;
}

static int vspace_init(vspace *w, const hpc_mod *m, int kind, size_t nums) {
    if (hpc_eng_of(m, kind, &w->e)) return HPC_ERANGE;
    w->NL = w->e.lanes;
    w->V = w->e.V;
    w->num = hpc_zalloc(w->V * (nums ? nums : 1));
    w->scr = hpc_zalloc(w->e.scr);
    if (!w->num || !w->scr) {
        free(w->num);
        free(w->scr);
        return HPC_ENOMEM;
    }
    w->one = w->e.one;
    w->unit = w->e.unit;
    w->r2 = w->e.r2;
    return HPC_OK;
}

static void vspace_free(vspace *w) {
    free(w->num);
    free(w->scr);
}

static inline uint64_t *vnum(const vspace *w, size_t i) { return w->num + i * w->V; }

static inline void VMUL(const vspace *w, uint64_t *out, const uint64_t *a, const uint64_t *b) {
    w->e.mul(w->e.ctx, out, a, b, w->scr);
}
static inline void VSQR(const vspace *w, uint64_t *out, const uint64_t *a) {
    w->e.sqr(w->e.ctx, out, a, w->scr);
}
static inline void VSET(const vspace *w, uint64_t *dst, int l, const mp_limb_t *x) {
    w->e.set(w->e.ctx, dst, l, x);
}
static inline void VGET(const vspace *w, const uint64_t *src, int l, mp_limb_t *x) {
    w->e.get(w->e.ctx, src, l, x);
}
static inline void VCOPY(const vspace *w, uint64_t *dst, int ld, const uint64_t *src, int ls) {
    w->e.copy_lane(w->e.ctx, dst, ld, src, ls);
}

/* lane l of dst <- x (an L-limb number), or lane l of `fill` when x is NULL */
static inline void vput(const vspace *w, uint64_t *dst, int l, const mp_limb_t *x,
                        const uint64_t *fill) {
    if (x)
        VSET(w, dst, l, x);
    else
        VCOPY(w, dst, l, fill, l);
}

/* Lanes are filled NL at a time; a batch's last items repeat lane 0's input. */
#define LANES(w, K, k) ((K) - (k) >= (size_t)(w)->NL ? (w)->NL : (int)((K) - (k)))

/* dst's lanes <- items k..k+lanes-1 of the batch a (L-limb numbers) */
static inline void vload(const vspace *w, uint64_t *dst, const mp_limb_t *a, size_t k, int lanes,
                         int L) {
    for (int l = 0; l < w->NL; l++) VSET(w, dst, l, a + (k + (l < lanes ? l : 0)) * L);
}

/* ------------------------------------------------------------------ */
/* batches                                                              */

int hpc_check_range(const hpc_mod *m, const mp_limb_t *a, size_t K, size_t *bad_index) {
    const int L = m->L;
    for (size_t k = 0; k < K; k++) {
        const mp_limb_t *x = a + k * L;
        if (mpn_cmp(x, m->N, L) >= 0 || mpn_zero_p(x, L)) {
            *bad_index = k;
            return HPC_ERANGE;
        }
    }
    return HPC_OK;
}

/* Plain products a b mod N, four at a time: GMP's (Karatsuba) product per lane,
 * then one folding reduction in the lanes (no Montgomery factor to undo). */
static int vmulmod(const hpc_mod *m, const mp_limb_t *a, const mp_limb_t *b, mp_limb_t *out,
                   size_t K) {
    const int L = m->L;
    uint64_t *scr = hpc_valloc(hpc_vscratch(m->v));
    mp_limb_t *t = malloc(4 * 2 * (size_t)L * sizeof(mp_limb_t));
    mp_limb_t *r = malloc(4 * (size_t)L * sizeof(mp_limb_t));
    int rc = scr && t && r ? HPC_OK : HPC_ENOMEM;
    for (size_t k = 0; rc == HPC_OK && k < K; k += 4) {
        int lanes = K - k >= 4 ? 4 : (int)(K - k);
        for (int l = 0; l < lanes; l++) mpn_mul_n(t + 2 * (size_t)l * L, a + (k + l) * L, b + (k + l) * L, L);
        hpc_vreduce4(m->v, t, lanes, r, scr);
        memcpy(out + k * L, r, (size_t)lanes * L * sizeof(mp_limb_t));
    }
    free(scr);
    free(t);
    free(r);
    return rc;
}

/* Plain products as two Montgomery products in the lanes: (a b / R) R^2 / R = a b
 * (the IFMA lanes have no folding kernel; two of their products cost less). */
static int lmulmod(const hpc_mod *m, int kind, const mp_limb_t *a, const mp_limb_t *b,
                   mp_limb_t *out, size_t K) {
    const int L = m->L;
    vspace w;
    int rc = vspace_init(&w, m, kind, 2);
    if (rc) return rc;
    uint64_t *x = vnum(&w, 0), *y = vnum(&w, 1);
    for (size_t k = 0; k < K; k += w.NL) {
        int lanes = LANES(&w, K, k);
        vload(&w, x, a, k, lanes, L);
        vload(&w, y, b, k, lanes, L);
        VMUL(&w, x, x, y);
        VMUL(&w, x, x, w.r2);
        for (int l = 0; l < lanes; l++) VGET(&w, x, l, out + (k + l) * L);
    }
    vspace_free(&w);
    return HPC_OK;
}

int hpc_mulmod(const hpc_mod *m, const mp_limb_t *a, const mp_limb_t *b, mp_limb_t *out,
               size_t K) {
    return hpc_mulmod_k(m, K >= 3 ? hpc_kernel(m, HPC_F_FOLD) : HPC_K_SCALAR, a, b, out, K);
}

int hpc_mulmod_k(const hpc_mod *m, int kind, const mp_limb_t *a, const mp_limb_t *b,
                 mp_limb_t *out, size_t K) {
    const int L = m->L;
    if (kind == HPC_K_AVX2 && m->v) return vmulmod(m, a, b, out, K);
    if (kind == HPC_K_IFMA && m->z) return lmulmod(m, kind, a, b, out, K);
    mp_limb_t *t = malloc((3 * L + 1) * sizeof(mp_limb_t));
    if (!t) return HPC_ENOMEM;
    mp_limb_t *q = t + 2 * L;
    for (size_t k = 0; k < K; k++) {
        mpn_mul_n(t, a + k * L, b + k * L, L);
        mpn_tdiv_qr(q, out + k * L, 0, t, 2 * L, m->N, L);
    }
    free(t);
    return HPC_OK;
}

/* Four at a time: optionally enter Montgomery form (times R^2), square s times,
 * optionally leave it (times 1): to_mont, from_mont and a^(2^s) in one loop. */
static int vsquarings(const hpc_mod *m, int kind, const mp_limb_t *a, mp_limb_t *out, size_t K,
                      int enter, unsigned s, int leave) {
    const int L = m->L;
    vspace w;
    int rc = vspace_init(&w, m, kind, 1);
    if (rc) return rc;
    uint64_t *x = vnum(&w, 0);
    for (size_t k = 0; k < K; k += w.NL) {
        int lanes = LANES(&w, K, k);
        vload(&w, x, a, k, lanes, L);
        if (enter) VMUL(&w, x, x, w.r2);
        for (unsigned i = 0; i < s; i++) VSQR(&w, x, x);
        if (leave) VMUL(&w, x, x, w.unit);
        for (int l = 0; l < lanes; l++) VGET(&w, x, l, out + (k + l) * L);
    }
    vspace_free(&w);
    return HPC_OK;
}

int hpc_to_mont(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K) {
    return hpc_to_mont_k(m, K >= 3 ? hpc_kernel(m, HPC_F_CONV) : HPC_K_SCALAR, a, out, K);
}

int hpc_to_mont_k(const hpc_mod *m, int kind, const mp_limb_t *a, mp_limb_t *out, size_t K) {
    const int L = m->L;
    if (kind != HPC_K_SCALAR) return vsquarings(m, kind, a, out, K, 1, 0, 0);
    mp_limb_t *t = malloc(2 * L * sizeof(mp_limb_t));
    if (!t) return HPC_ENOMEM;
    for (size_t k = 0; k < K; k++) hpc_mont_mul(m, out + k * L, a + k * L, m->R2, t);
    free(t);
    return HPC_OK;
}

int hpc_from_mont(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K) {
    return hpc_from_mont_k(m, K >= 3 ? hpc_kernel(m, HPC_F_CONV) : HPC_K_SCALAR, a, out, K);
}

int hpc_from_mont_k(const hpc_mod *m, int kind, const mp_limb_t *a, mp_limb_t *out, size_t K) {
    const int L = m->L;
    if (kind != HPC_K_SCALAR) return vsquarings(m, kind, a, out, K, 0, 0, 1);
    mp_limb_t *t = malloc(2 * L * sizeof(mp_limb_t));
    if (!t) return HPC_ENOMEM;
    for (size_t k = 0; k < K; k++) from_mont1(m, out + k * L, a + k * L, t);
    free(t);
    return HPC_OK;
}

/* lanes <- R^n[l] mod N: multiplying a chain of n[l] + 1 raw factors' Montgomery
 * products by it gives their plain product */
static void vset_rpow(const vspace *w, const hpc_mod *m, uint64_t *dst, const size_t *n,
                      mp_limb_t *buf) {
    mpz_t r, x, Nz, tmp;
    mpz_init_set(r, ro(tmp, m->one, m->L));
    mpz_init(x);
    mpz_init_set(Nz, ro(tmp, m->N, m->L));
    for (int l = 0; l < w->NL; l++) {
        mpz_powm_ui(x, r, n[l], Nz);
        mpz_to_limbs(buf, m->L, x);
        VSET(w, dst, l, buf);
    }
    mpz_clears(r, x, Nz, NULL);
}

/* Products of raw values by Montgomery products (each one divides by R, so a
 * chain of T factors carries R^-(T-1)); one last product by R^T fixes that.
 * K >= 3: four outputs in the lanes; K < 3 with a long chain: each output's
 * factors dealt round-robin to the four lanes, whose products are then joined. */
static int vprod(const hpc_mod *m, int kind, const mp_limb_t *a, size_t T, mp_limb_t *out,
                 size_t K) {
    const int L = m->L;
    vspace w;
    int rc0 = vspace_init(&w, m, kind, 3);
    if (rc0) return rc0;
    mp_limb_t *buf = malloc((6 * (size_t)L + 1) * sizeof(mp_limb_t));
    if (!buf) {
        vspace_free(&w);
        return HPC_ENOMEM;
    }
    uint64_t *acc = vnum(&w, 0), *ld = vnum(&w, 1), *fix = vnum(&w, 2);
    const int NL = w.NL;
    if (K >= 3) {
        size_t n[HPC_MAXLANES];
        for (int l = 0; l < NL; l++) n[l] = T;
        vset_rpow(&w, m, fix, n, buf);
        for (size_t k = 0; k < K; k += NL) {
            int lanes = LANES(&w, K, k);
            for (size_t t = 0; t < T; t++) {
                uint64_t *dst = t ? ld : acc;
                for (int l = 0; l < NL; l++)
                    VSET(&w, dst, l, a + ((k + (l < lanes ? l : 0)) * T + t) * L);
                if (t) VMUL(&w, acc, acc, ld);
            }
            VMUL(&w, acc, acc, fix);
            for (int l = 0; l < lanes; l++) VGET(&w, acc, l, out + (k + l) * L);
        }
    } else {
        size_t n[HPC_MAXLANES];
        for (int l = 0; l < NL; l++) /* factors l, l+NL, ... */
            n[l] = T > (size_t)l ? (T - (size_t)l + NL - 1) / NL : 0;
        vset_rpow(&w, m, fix, n, buf);
        mp_limb_t *part = buf, *t2 = buf + 2 * L, *q = buf + 4 * L;
        for (size_t k = 0; k < K; k++) {
            const mp_limb_t *row = a + k * T * L;
            for (size_t s = 0; s < n[0]; s++) {
                uint64_t *dst = s ? ld : acc;
                for (int l = 0; l < NL; l++) {
                    size_t t = NL * s + (size_t)l;
                    vput(&w, dst, l, t < T ? row + t * L : NULL, w.one); /* R: neutral */
                }
                if (s) VMUL(&w, acc, acc, ld);
            }
            VMUL(&w, acc, acc, fix);
            mp_limb_t *o = out + k * L;
            VGET(&w, acc, 0, o);
            for (int l = 1; l < NL; l++) {
                VGET(&w, acc, l, part);
                mpn_mul_n(t2, o, part, L);
                mpn_tdiv_qr(q, o, 0, t2, 2 * L, m->N, L);
            }
        }
    }
    free(buf);
    vspace_free(&w);
    return HPC_OK;
}

int hpc_prod(const hpc_mod *m, const mp_limb_t *a, size_t T, mp_limb_t *out, size_t K) {
    const int L = m->L;
    int kind = lane_kind(m, HPC_F_MUL);
    if (kind && T >= 2 && (K >= 3 || T >= 16)) return vprod(m, kind, a, T, out, K);
    mp_limb_t *t = malloc((4 * L + 1) * sizeof(mp_limb_t));
    if (!t) return HPC_ENOMEM;
    mp_limb_t *q = t + 2 * L, *acc = t + 3 * L + 1;
    for (size_t k = 0; k < K; k++) {
        const mp_limb_t *row = a + k * T * L;
        if (T == 0) {
            memset(acc, 0, L * sizeof(mp_limb_t));
            acc[0] = 1;
        } else {
            memcpy(acc, row, L * sizeof(mp_limb_t));
            for (size_t j = 1; j < T; j++) {
                mpn_mul_n(t, acc, row + j * L, L);
                mpn_tdiv_qr(q, acc, 0, t, 2 * L, m->N, L);
            }
        }
        memcpy(out + k * L, acc, L * sizeof(mp_limb_t));
    }
    free(t);
    return HPC_OK;
}

/* Montgomery's trick in the lanes: items are dealt round-robin to four chains.
 * The chains multiply raw values by Montgomery products, so after j factors a
 * prefix carries R^-(j-1); inverting the last one gives P^-1 R^(j-1), and the
 * backward pass (two products per item) lands every inverse exactly on a^-1.
 * Lanes past their chain's end multiply by R mod N, which changes nothing. */
static int vinvert(const hpc_mod *m, int kind, const mp_limb_t *a, mp_limb_t *out, size_t K) {
    const int L = m->L;
    vspace w;
    int rc0 = vspace_init(&w, m, kind, 3);
    if (rc0) return rc0;
    const int NL = w.NL;
    mp_limb_t *pre = malloc(K * L * sizeof(mp_limb_t));
    mp_limb_t *buf = malloc(L * sizeof(mp_limb_t));
    if (!pre || !buf) {
        free(pre);
        free(buf);
        vspace_free(&w);
        return HPC_ENOMEM;
    }
    uint64_t *acc = vnum(&w, 0), *ld = vnum(&w, 1), *tv = vnum(&w, 2);
    const size_t steps = (K + NL - 1) / NL;
    for (size_t s = 0; s < steps; s++) {
        uint64_t *dst = s ? ld : acc;
        for (int l = 0; l < NL; l++) {
            size_t t = NL * s + (size_t)l;
            vput(&w, dst, l, t < K ? a + t * L : NULL, w.one);
        }
        if (s) VMUL(&w, acc, acc, ld);
        for (int l = 0; l < NL; l++) {
            size_t t = NL * s + (size_t)l;
            if (t < K) VGET(&w, acc, l, pre + t * L);
        }
    }
    int rc = HPC_OK;
    mpz_t x, Nz, tmp;
    mpz_init(x);
    mpz_init_set(Nz, ro(tmp, m->N, L));
    for (int l = 0; l < NL && rc == HPC_OK; l++) {
        VGET(&w, acc, l, buf);
        if (!mpz_invert(x, ro(tmp, buf, L), Nz)) {
            rc = HPC_ENOINV;
            break;
        }
        mpz_to_limbs(buf, L, x);
        VSET(&w, acc, l, buf);
    }
    mpz_clears(x, Nz, NULL);
    for (size_t s = steps; rc == HPC_OK && s-- > 1;) {
        for (int l = 0; l < NL; l++) {
            size_t t = NL * s + (size_t)l;
            vput(&w, ld, l, t < K ? pre + (t - NL) * L : NULL, w.one);
        }
        VMUL(&w, tv, acc, ld);
        for (int l = 0; l < NL; l++) {
            size_t t = NL * s + (size_t)l;
            if (t < K) VGET(&w, tv, l, out + t * L);
            vput(&w, ld, l, t < K ? a + t * L : NULL, w.one);
        }
        VMUL(&w, acc, acc, ld);
    }
    for (int l = 0; rc == HPC_OK && l < NL && (size_t)l < K; l++) VGET(&w, acc, l, out + l * L);
    memset(buf, 0, L * sizeof(mp_limb_t));
    free(pre);
    free(buf);
    vspace_free(&w);
    return rc;
}

int hpc_invert(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K) {
    if (K == 0) return HPC_OK;
    const int L = m->L;
    /* four inversions instead of one: the lanes pay off from a few dozen items */
    int kind = lane_kind(m, HPC_F_MUL);
    if (kind && K >= 64) return vinvert(m, kind, a, out, K);
    mp_limb_t *pre = malloc(K * L * sizeof(mp_limb_t));
    mp_limb_t *t = malloc((4 * L + 1) * sizeof(mp_limb_t));
    if (!pre || !t) {
        free(pre);
        free(t);
        return HPC_ENOMEM;
    }
    mp_limb_t *q = t + 2 * L, *inv = t + 3 * L + 1;
    memcpy(pre, a, L * sizeof(mp_limb_t));
    for (size_t k = 1; k < K; k++) {
        mpn_mul_n(t, pre + (k - 1) * L, a + k * L, L);
        mpn_tdiv_qr(q, pre + k * L, 0, t, 2 * L, m->N, L);
    }
    mpz_t x, Nz, tmp;
    mpz_init(x);
    int ok = mpz_invert(x, ro(tmp, pre + (K - 1) * L, L), ro(Nz, m->N, L));
    if (!ok) {
        mpz_clear(x);
        free(pre);
        free(t);
        return HPC_ENOINV;
    }
    mpz_to_limbs(inv, L, x);
    mpz_clear(x);
    for (size_t k = K - 1; k > 0; k--) {
        /* out[k] = inv * pre[k-1]; inv = inv * a[k] */
        mpn_mul_n(t, inv, pre + (k - 1) * L, L);
        mpn_tdiv_qr(q, out + k * L, 0, t, 2 * L, m->N, L);
        mpn_mul_n(t, inv, a + k * L, L);
        mpn_tdiv_qr(q, inv, 0, t, 2 * L, m->N, L);
    }
    memcpy(out, inv, L * sizeof(mp_limb_t));
    free(pre);
    free(t);
    return HPC_OK;
}

/* Four bases, four exponents: fixed windows of w bits, each lane picking its
 * own table entry (entry 0 is Montgomery 1, so a zero digit costs the same). */
static int vpow_u64(const hpc_mod *m, int kind, const mp_limb_t *a, const uint64_t *e, mp_limb_t *out,
                    size_t K, uint64_t *mults) {
    const int L = m->L;
    vspace w;
    int rc0 = vspace_init(&w, m, kind, 16 + 2);
    if (rc0) return rc0;
    const int NL = w.NL;
    uint64_t *acc = vnum(&w, 16), *sel = vnum(&w, 17);
    uint64_t cnt = 0;
    for (size_t k = 0; k < K; k += NL) {
        int lanes = LANES(&w, K, k);
        uint64_t ek[HPC_MAXLANES], emax = 0;
        for (int l = 0; l < NL; l++) {
            ek[l] = e[k + (l < lanes ? l : 0)];
            if (ek[l] > emax) emax = ek[l];
        }
        int nb = emax ? 64 - __builtin_clzll(emax) : 0;
        int wb = nb <= 16 ? 2 : nb <= 40 ? 3 : 4;
        int ntab = 1 << wb, nd = (nb + wb - 1) / wb;
        uint64_t *T = vnum(&w, 0);
        memcpy(T, w.one, w.V * sizeof(uint64_t));
        int ops = 0;
        if (nd) {
            vload(&w, T + w.V, a, k, lanes, L);
            VMUL(&w, T + w.V, T + w.V, w.r2);
            VSQR(&w, T + 2 * w.V, T + w.V);
            for (int i = 3; i < ntab; i++) VMUL(&w, T + i * w.V, T + (i - 1) * w.V, T + w.V);
            ops += ntab - 1;
            for (int d = nd - 1; d >= 0; d--) {
                uint64_t *dst = d == nd - 1 ? acc : sel;
                for (int l = 0; l < NL; l++) {
                    unsigned dig = (unsigned)((ek[l] >> (d * wb)) & (uint64_t)(ntab - 1));
                    VCOPY(&w, dst, l, T + dig * w.V, l);
                }
                if (d == nd - 1) continue;
                for (int s = 0; s < wb; s++) VSQR(&w, acc, acc);
                VMUL(&w, acc, acc, sel);
                ops += wb + 1;
            }
        } else {
            memcpy(acc, w.one, w.V * sizeof(uint64_t));
        }
        VMUL(&w, acc, acc, w.unit);
        ops += 1;
        for (int l = 0; l < lanes; l++) VGET(&w, acc, l, out + (k + l) * L);
        cnt += (uint64_t)ops * lanes;
    }
    vspace_free(&w);
    if (mults) *mults += cnt;
    return HPC_OK;
}

/* window bits for a scalar exponentiation by a b-bit exponent: binary up to 20
 * bits (a table would cost more than it saves), then sliding windows */
static int scalar_window(int bits) { return bits > 48 ? 4 : bits > 20 ? 3 : 1; }

int hpc_pow_u64(const hpc_mod *m, const mp_limb_t *a, const uint64_t *e, mp_limb_t *out,
                size_t K, uint64_t *mults) {
    const int L = m->L;
    int kind = lane_kind(m, HPC_F_MUL);
    if (kind && K >= 3) return vpow_u64(m, kind, a, e, out, K, mults);
    /* t: 2L scratch, acc, x^2, then the odd powers x, x^3, ..., x^15 */
    mp_limb_t *t = malloc((4 + 8) * (size_t)L * sizeof(mp_limb_t));
    if (!t) return HPC_ENOMEM;
    mp_limb_t *acc = t + 2 * L, *x2 = t + 3 * L, *tab = t + 4 * L;
    uint64_t cnt = 0;
    for (size_t k = 0; k < K; k++) {
        uint64_t ek = e[k];
        mp_limb_t *o = out + k * L;
        if (ek == 0) {
            memset(o, 0, L * sizeof(mp_limb_t));
            o[0] = 1;
            continue;
        }
        if (ek == 1) {
            memmove(o, a + k * L, L * sizeof(mp_limb_t));
            continue;
        }
        hpc_mont_mul(m, tab, a + k * L, m->R2, t);
        int top = 63 - __builtin_clzll(ek), w = scalar_window(top + 1);
        if (w > 1) {
            hpc_mont_sqr(m, x2, tab, t);
            for (int j = 1; j < 1 << (w - 1); j++)
                hpc_mont_mul(m, tab + (size_t)j * L, tab + (size_t)(j - 1) * L, x2, t);
            cnt += (uint64_t)1 << (w - 1);
        }
        int started = 0;
        for (int b = top; b >= 0;) {
            if (!((ek >> b) & 1)) {
                hpc_mont_sqr(m, acc, acc, t);
                cnt++;
                b--;
                continue;
            }
            int lo = b - w + 1 < 0 ? 0 : b - w + 1;
            while (!((ek >> lo) & 1)) lo++;
            unsigned val = (unsigned)((ek >> lo) & ((1ULL << (b - lo + 1)) - 1));
            const mp_limb_t *ent = tab + (size_t)(val >> 1) * L;
            if (!started) {
                memcpy(acc, ent, L * sizeof(mp_limb_t));
                started = 1;
            } else {
                for (int i = b; i >= lo; i--) hpc_mont_sqr(m, acc, acc, t);
                hpc_mont_mul(m, acc, acc, ent, t);
                cnt += (uint64_t)(b - lo + 2);
            }
            b = lo - 1;
        }
        from_mont1(m, o, acc, t);
        cnt += 2;
    }
    free(t);
    if (mults) *mults += cnt;
    return HPC_OK;
}

int hpc_pow2k(const hpc_mod *m, const mp_limb_t *a, unsigned s, mp_limb_t *out, size_t K,
              uint64_t *mults) {
    const int L = m->L;
    int kind = lane_kind(m, HPC_F_SQR);
    if (kind && K >= 3 && s > 0) {
        int rc = vsquarings(m, kind, a, out, K, 1, s, 1);
        if (rc) return rc;
        if (mults) *mults += (uint64_t)K * (s + 2);
        return HPC_OK;
    }
    mp_limb_t *t = malloc(3 * L * sizeof(mp_limb_t));
    if (!t) return HPC_ENOMEM;
    mp_limb_t *acc = t + 2 * L;
    for (size_t k = 0; k < K; k++) {
        if (s == 0) {
            memmove(out + k * L, a + k * L, L * sizeof(mp_limb_t));
            continue;
        }
        hpc_mont_mul(m, acc, a + k * L, m->R2, t);
        for (unsigned i = 0; i < s; i++) hpc_mont_sqr(m, acc, acc, t);
        from_mont1(m, out + k * L, acc, t);
    }
    free(t);
    if (mults) *mults += (uint64_t)K * (s ? s + 2 : 0);
    return HPC_OK;
}

int hpc_powm(const hpc_mod *m, const mp_limb_t *a, const mp_limb_t *e, int Ne, mp_limb_t *out,
             size_t K) {
    const int L = m->L;
    mpz_t r, ta, te, tn;
    mpz_init(r);
    for (size_t k = 0; k < K; k++) {
        mpz_powm(r, ro(ta, a + k * L, L), ro(te, e + k * Ne, Ne), ro(tn, m->N, L));
        mpz_to_limbs(out + k * L, L, r);
    }
    mpz_clear(r);
    return HPC_OK;
}

/* Straus over four outputs at once: every output shares the exponents, so the
 * lanes run one schedule; a lane whose base is absent multiplies by 1. */
static int vmultiexp(const hpc_mod *m, int kind, const mp_limb_t *bases, const int64_t *idx, size_t K_out,
                     size_t T, size_t G, const uint64_t *e, int out_mont, mp_limb_t *out,
                     uint64_t *mults) {
    const int L = m->L;
    vspace w;
    int rc0 = vspace_init(&w, m, kind, T + 2);
    if (rc0) return rc0;
    const int NL = w.NL;
    char *present = malloc(T ? T : 1);
    if (!present) {
        vspace_free(&w);
        return HPC_ENOMEM;
    }
    uint64_t *acc = vnum(&w, T), *ld = vnum(&w, T + 1);
    uint64_t emax = 0;
    for (size_t j = 0; j < T; j++)
        if (e[j] > emax) emax = e[j];
    int nbits = emax ? 64 - __builtin_clzll(emax) : 0;
    uint64_t cnt = 0;
    for (size_t o = 0; o < K_out; o += NL) {
        int lanes = LANES(&w, K_out, o);
        const int64_t *io[HPC_MAXLANES];
        for (int l = 0; l < NL; l++) io[l] = idx + (o + (l < lanes ? l : 0)) * T * G;
        int ops = 0;
        /* term j's base: the product of its group, lane by lane */
        for (size_t j = 0; j < T; j++) {
            present[j] = 0;
            if (e[j] == 0) continue;
            uint64_t *P = vnum(&w, j);
            for (size_t g = 0; g < G; g++) {
                int any = 0;
                for (int l = 0; l < NL; l++) any |= io[l][j * G + g] >= 0;
                if (!any) continue;
                uint64_t *dst = present[j] ? ld : P;
                for (int l = 0; l < NL; l++) {
                    int64_t b = io[l][j * G + g];
                    vput(&w, dst, l, b >= 0 ? bases + (size_t)b * L : NULL, w.one);
                }
                if (present[j]) {
                    VMUL(&w, P, P, ld);
                    ops++;
                }
                present[j] = 1;
            }
        }
        int started = 0;
        for (int bit = nbits - 1; bit >= 0; bit--) {
            if (started) {
                VSQR(&w, acc, acc);
                ops++;
            }
            for (size_t j = 0; j < T; j++) {
                if (!present[j] || !((e[j] >> bit) & 1)) continue;
                if (started) {
                    VMUL(&w, acc, acc, vnum(&w, j));
                    ops++;
                } else {
                    memcpy(acc, vnum(&w, j), w.V * sizeof(uint64_t));
                    started = 1;
                }
            }
        }
        if (!started) {
            memcpy(acc, out_mont ? w.one : w.unit, w.V * sizeof(uint64_t));
        } else if (!out_mont) {
            VMUL(&w, acc, acc, w.unit);
            ops++;
        }
        for (int l = 0; l < lanes; l++) VGET(&w, acc, l, out + (o + l) * L);
        cnt += (uint64_t)ops * lanes;
    }
    free(present);
    vspace_free(&w);
    if (mults) *mults += cnt;
    return HPC_OK;
}

int hpc_multiexp(const hpc_mod *m, const mp_limb_t *bases, const int64_t *idx, size_t K_out,
                 size_t T, size_t G, const uint64_t *e, int out_mont, mp_limb_t *out,
                 uint64_t *mults) {
    const int L = m->L;
    int kind = lane_kind(m, HPC_F_MUL);
    if (kind && K_out >= 3)
        return vmultiexp(m, kind, bases, idx, K_out, T, G, e, out_mont, out, mults);
    mp_limb_t *t = malloc((3 * L + T * L) * sizeof(mp_limb_t));
    const mp_limb_t **ptr = malloc((T ? T : 1) * sizeof(*ptr));
    if (!t || !ptr) {
        free(t);
        free((void *)ptr);
        return HPC_ENOMEM;
    }
    mp_limb_t *acc = t + 2 * L, *gp = t + 3 * L;
    uint64_t emax = 0;
    for (size_t j = 0; j < T; j++)
        if (e[j] > emax) emax = e[j];
    int nbits = emax ? 64 - __builtin_clzll(emax) : 0;
    uint64_t cnt = 0;
    for (size_t o = 0; o < K_out; o++) {
        const int64_t *io = idx + o * T * G;
        for (size_t j = 0; j < T; j++) {
            ptr[j] = NULL;
            if (e[j] == 0) continue;
            size_t c = 0;
            for (size_t g = 0; g < G; g++) {
                int64_t b = io[j * G + g];
                if (b < 0) continue;
                const mp_limb_t *bp = bases + (size_t)b * L;
                if (c == 0) {
                    ptr[j] = bp;
                } else {
                    hpc_mont_mul(m, gp + j * L, ptr[j], bp, t);
                    ptr[j] = gp + j * L;
                    cnt++;
                }
                c++;
            }
        }
        int started = 0;
        for (int bit = nbits - 1; bit >= 0; bit--) {
            if (started) {
                hpc_mont_sqr(m, acc, acc, t);
                cnt++;
            }
            for (size_t j = 0; j < T; j++) {
                if (!ptr[j] || !((e[j] >> bit) & 1)) continue;
                if (started) {
                    hpc_mont_mul(m, acc, acc, ptr[j], t);
                    cnt++;
                } else {
                    memcpy(acc, ptr[j], L * sizeof(mp_limb_t));
                    started = 1;
                }
            }
        }
        mp_limb_t *dst = out + o * L;
        if (!started) {
            if (out_mont)
                memcpy(dst, m->one, L * sizeof(mp_limb_t));
            else {
                memset(dst, 0, L * sizeof(mp_limb_t));
                dst[0] = 1;
            }
        } else if (out_mont) {
            memcpy(dst, acc, L * sizeof(mp_limb_t));
        } else {
            from_mont1(m, dst, acc, t);
            cnt++;
        }
    }
    free(t);
    free((void *)ptr);
    if (mults) *mults += cnt;
    return HPC_OK;
}

/* ------------------------------------------------------------------ */
/* fixed-base tables                                                    */

int hpc_fb_init(hpc_fbtab *tb, const hpc_mod *m, const mp_limb_t *h, int ebits, int w) {
    const int L = m->L;
    memset(tb, 0, sizeof(*tb));
    /* fb_exp gathers at most 1024 windows; w = 0 would divide by zero */
    if (w < 1 || w > 16 || ebits < 1 || (ebits + w - 1) / w > 1024) return HPC_ERANGE;
    tb->L = L;
    tb->w = w;
    tb->nwin = (ebits + w - 1) / w;
    size_t per = ((size_t)1 << w) - 1;
    tb->tab = malloc((size_t)tb->nwin * per * L * sizeof(mp_limb_t));
    mp_limb_t *t = malloc(3 * L * sizeof(mp_limb_t));
    if (!tb->tab || !t) {
        free(t);
        hpc_fb_free(tb);
        return HPC_ENOMEM;
    }
    mp_limb_t *base = t + 2 * L;
    hpc_mont_mul(m, base, h, m->R2, t); /* h in Montgomery form */
    for (int i = 0; i < tb->nwin; i++) {
        mp_limb_t *row = tb->tab + (size_t)i * per * L;
        memcpy(row, base, L * sizeof(mp_limb_t));
        for (size_t j = 1; j < per; j++)
            hpc_mont_mul(m, row + j * L, row + (j - 1) * L, base, t);
        /* next base = base^(2^w) = row[per-1] * base */
        hpc_mont_mul(m, base, row + (per - 1) * L, base, t);
    }
    free(t);
    return HPC_OK;
}

void hpc_fb_free(hpc_fbtab *tb) {
    free(tb->tab);
    tb->tab = NULL;
}

/* r <- h^x in Montgomery form.  Table entries are far apart in memory, so the
 * next one is prefetched while the current product runs. */
/* window i (w bits) of the number {xl, xs} */
static inline unsigned fb_digit(const mp_limb_t *xl, size_t xs, int i, int w) {
    size_t bit = (size_t)i * w;
    size_t li = bit / 64, off = bit % 64;
    unsigned long long d = 0;
    if (li < xs) d = xl[li] >> off;
    if (off + w > 64 && li + 1 < xs) d |= xl[li + 1] << (64 - off);
    return (unsigned)(d & ((1ULL << w) - 1));
}

static inline const mp_limb_t *fb_entry(const hpc_fbtab *tb, int i, unsigned d) {
    size_t per = ((size_t)1 << tb->w) - 1;
    return tb->tab + ((size_t)i * per + (d - 1)) * tb->L;
}

static int fb_exp(const hpc_mod *m, const hpc_fbtab *tb, const mpz_t x, mp_limb_t *r,
                  mp_limb_t *t) {
    const int L = m->L, w = tb->w;
    const mp_limb_t *ents[1024];
    int cnt = 0;
    size_t xs = mpz_size(x);
    const mp_limb_t *xl = mpz_limbs_read(x);
    for (int i = 0; i < tb->nwin && cnt < 1024; i++) {
        unsigned d = fb_digit(xl, xs, i, w);
        if (d) ents[cnt++] = fb_entry(tb, i, d);
    }
    if (!cnt) {
        memcpy(r, m->one, L * sizeof(mp_limb_t));
        return HPC_OK;
    }
    memcpy(r, ents[0], L * sizeof(mp_limb_t));
    for (int i = 1; i < cnt; i++) {
        if (i + 1 < cnt)
            for (int c = 0; c < L; c += 8) __builtin_prefetch(ents[i + 1] + c, 0, 0);
        hpc_mont_mul(m, r, r, ents[i], t);
    }
    return HPC_OK;
}

/* acc <- h^x[l] in Montgomery form, lane by lane: one product per window, each
 * lane reading its own table entry (1 where its digit is 0) */
static void vfb_exp(const vspace *w, const hpc_fbtab *tb, mpz_t *const x, uint64_t *acc,
                    uint64_t *ld) {
    const int wb = tb->w;
    const mp_limb_t *xl[HPC_MAXLANES];
    size_t xs[HPC_MAXLANES];
    for (int l = 0; l < w->NL; l++) {
        xl[l] = mpz_limbs_read(x[l]);
        xs[l] = mpz_size(x[l]);
    }
    int started = 0;
    for (int i = 0; i < tb->nwin; i++) {
        unsigned d[HPC_MAXLANES], any = 0;
        for (int l = 0; l < w->NL; l++) any |= d[l] = fb_digit(xl[l], xs[l], i, wb);
        if (!any) continue;
        if (i + 1 < tb->nwin)
            for (int l = 0; l < w->NL; l++) {
                unsigned dn = fb_digit(xl[l], xs[l], i + 1, wb);
                if (dn)
                    for (int c = 0; c < tb->L; c += 8) __builtin_prefetch(fb_entry(tb, i + 1, dn) + c, 0, 0);
            }
        uint64_t *dst = started ? ld : acc;
        for (int l = 0; l < w->NL; l++) vput(w, dst, l, d[l] ? fb_entry(tb, i, d[l]) : NULL, w->one);
        if (started) VMUL(w, acc, acc, ld);
        started = 1;
    }
    if (!started) memcpy(acc, w->one, w->V * sizeof(uint64_t));
}

/* ------------------------------------------------------------------ */
/* key owner                                                            */

/* h <- L((1+n)^e mod prime^2)^-1 mod prime; 0 when not invertible */
static int lfun_inverse(mpz_t h, mpz_srcptr n, mpz_srcptr e, mpz_srcptr prime, mpz_srcptr prime2,
                        mpz_t x) {
    mpz_add_ui(x, n, 1);
    mpz_powm_sec(x, x, e, prime2);
    mpz_sub_ui(x, x, 1);
    mpz_divexact(x, x, prime);
    return mpz_invert(h, x, prime);
}

static void to_limbs_n(mp_limb_t *dst, int L, mpz_srcptr x) { mpz_to_limbs(dst, L, x); }

/* the limb copies of one prime's side (for the constant-time path) */
static int half_init(hpc_half *H, mpz_srcptr prime, mpz_srcptr prime2, mpz_srcptr e,
                     mpz_srcptr f, mpz_srcptr h, mpz_srcptr hf, mpz_t x) {
    H->L = (int)mpz_size(prime);
    H->L2 = (int)mpz_size(prime2);
    H->ne = (int)mpz_size(e);
    H->nf = (int)mpz_size(f);
    H->ebits = mpz_sizeinbase(e, 2);
    H->fbits = mpz_sizeinbase(f, 2);
    const size_t L = (size_t)H->L;
    size_t total = L + (size_t)H->L2 + 3 * L + (size_t)H->ne + (size_t)H->nf;
    H->block = calloc(total, sizeof(mp_limb_t));
    if (!H->block) return HPC_ENOMEM;
    H->P = H->block;
    H->P2 = H->P + L;
    H->pinv = H->P2 + H->L2;
    H->h = H->pinv + L;
    H->hf = H->h + L;
    H->e = H->hf + L;
    H->f = H->e + H->ne;
    to_limbs_n(H->P, H->L, prime);
    to_limbs_n(H->P2, H->L2, prime2);
    mpz_set_ui(x, 1);
    mpz_mul_2exp(x, x, 64 * (mp_bitcnt_t)L);
    mpz_t pinv;
    mpz_init(pinv);
    mpz_invert(pinv, prime, x); /* prime is odd */
    to_limbs_n(H->pinv, H->L, pinv);
    hpc_wipe_mpz(pinv);
    mpz_clear(pinv);
    to_limbs_n(H->h, H->L, h);
    to_limbs_n(H->hf, H->L, hf);
    to_limbs_n(H->e, H->ne, e);
    to_limbs_n(H->f, H->nf, f);
    return HPC_OK;
}

static void half_free(hpc_half *H) {
    if (H->block) {
        hpc_wipe(H->block, ((size_t)4 * H->L + H->L2 + H->ne + H->nf) * sizeof(mp_limb_t));
        free(H->block);
    }
    memset(H, 0, sizeof(*H));
}

int hpc_priv_init(hpc_priv *k, const mp_limb_t *p, int Lp, const mp_limb_t *q, int Lq,
                  const mp_limb_t *gp, const mp_limb_t *gq, int window, const mp_limb_t *ap,
                  int Lap, const mp_limb_t *aq, int Laq) {
    memset(k, 0, sizeof(*k));
    mpz_t tmp, x;
    mpz_inits(k->n, k->n2, k->p, k->q, k->p2, k->q2, k->pm1, k->qm1, k->hp, k->hq, k->qinv_p,
              k->q2inv_p2, k->ep, k->eq, k->hpe, k->hqe, x, NULL);
    int rc = HPC_OK;
    mpz_set(k->p, ro(tmp, p, Lp));
    mpz_set(k->q, ro(tmp, q, Lq));
    mpz_mul(k->n, k->p, k->q);
    mpz_mul(k->n2, k->n, k->n);
    mpz_mul(k->p2, k->p, k->p);
    mpz_mul(k->q2, k->q, k->q);
    mpz_sub_ui(k->pm1, k->p, 1);
    mpz_sub_ui(k->qm1, k->q, 1);
    k->Ln = (int)mpz_size(k->n);
    k->Ln2 = (int)mpz_size(k->n2);
    k->Lp2 = (int)mpz_size(k->p2);
    k->Lq2 = (int)mpz_size(k->q2);
    if ((ap == NULL) != (aq == NULL) || (ap && !(gp && gq))) {
        rc = HPC_ERANGE;
        goto out;
    }
    if (ap) {
        mpz_set(k->ep, ro(tmp, ap, Lap));
        mpz_set(k->eq, ro(tmp, aq, Laq));
        if (mpz_cmp_ui(k->ep, 1) <= 0 || mpz_cmp_ui(k->eq, 1) <= 0 ||
            !mpz_divisible_p(k->pm1, k->ep) || !mpz_divisible_p(k->qm1, k->eq)) {
            rc = HPC_ERANGE;
            goto out;
        }
        k->fast = mpz_cmp(k->ep, k->pm1) != 0 || mpz_cmp(k->eq, k->qm1) != 0;
    } else {
        mpz_set(k->ep, k->pm1);
        mpz_set(k->eq, k->qm1);
    }
    /* hp = L((1+n)^(p-1) mod p^2)^-1 mod p, hpe the same for ep */
    if (!lfun_inverse(k->hp, k->n, k->pm1, k->p, k->p2, x) ||
        !lfun_inverse(k->hq, k->n, k->qm1, k->q, k->q2, x) ||
        !lfun_inverse(k->hpe, k->n, k->ep, k->p, k->p2, x) ||
        !lfun_inverse(k->hqe, k->n, k->eq, k->q, k->q2, x) ||
        !mpz_invert(k->qinv_p, k->q, k->p) || !mpz_invert(k->q2inv_p2, k->q2, k->p2)) {
        rc = HPC_ENOINV;
        goto out;
    }
    if ((rc = half_init(&k->sp, k->p, k->p2, k->ep, k->pm1, k->hpe, k->hp, x))) goto out;
    if ((rc = half_init(&k->sq, k->q, k->q2, k->eq, k->qm1, k->hqe, k->hq, x))) goto out;
    k->qinvl = calloc((size_t)k->sp.L, sizeof(mp_limb_t));
    if (!k->qinvl) {
        rc = HPC_ENOMEM;
        goto out;
    }
    to_limbs_n(k->qinvl, k->sp.L, k->qinv_p);
    if ((rc = hpc_mod_init(&k->mp2, mpz_limbs_read(k->p2), k->Lp2))) goto out;
    if ((rc = hpc_mod_init(&k->mq2, mpz_limbs_read(k->q2), k->Lq2))) goto out;
    if (gp && gq) {
        /* h = g^p mod p^2: g of order ep mod p gives h of order ep among the n-th
         * residues mod p^2 (the whole group of them when ep = p - 1) */
        mp_limb_t *hl = calloc((size_t)(k->Lp2 > k->Lq2 ? k->Lp2 : k->Lq2), sizeof(mp_limb_t));
        if (!hl) {
            rc = HPC_ENOMEM;
            goto out;
        }
        mpz_powm_sec(x, ro(tmp, gp, Lp), k->p, k->p2);
        mpz_to_limbs(hl, k->Lp2, x);
        rc = hpc_fb_init(&k->tp, &k->mp2, hl, (int)mpz_sizeinbase(k->ep, 2), window);
        if (rc == HPC_OK) {
            mpz_powm_sec(x, ro(tmp, gq, Lq), k->q, k->q2);
            mpz_to_limbs(hl, k->Lq2, x);
            rc = hpc_fb_init(&k->tq, &k->mq2, hl, (int)mpz_sizeinbase(k->eq, 2), window);
        }
        hpc_wipe(hl, (size_t)(k->Lp2 > k->Lq2 ? k->Lp2 : k->Lq2) * sizeof(mp_limb_t));
        free(hl);
        if (rc != HPC_OK) goto out;
        k->has_tables = 1;
    }
out:
    hpc_wipe_mpz(x);
    mpz_clear(x);
    if (rc) hpc_priv_free(k);
    return rc;
}

static void wipe_mod(hpc_mod *m) {
    if (!m->N) return;
    hpc_wipe(m->N, (size_t)m->L * sizeof(mp_limb_t));
    hpc_wipe(m->R2, (size_t)m->L * sizeof(mp_limb_t));
    hpc_wipe(m->one, (size_t)m->L * sizeof(mp_limb_t));
    hpc_mod_free(m);
}

static void wipe_table(hpc_fbtab *t) {
    if (t->tab)
        hpc_wipe(t->tab, (size_t)t->nwin * (((size_t)1 << t->w) - 1) * t->L * sizeof(mp_limb_t));
    hpc_fb_free(t);
}

void hpc_priv_free(hpc_priv *k) {
    wipe_table(&k->tp);
    wipe_table(&k->tq);
    wipe_mod(&k->mp2);
    wipe_mod(&k->mq2);
    half_free(&k->sp);
    half_free(&k->sq);
    if (k->qinvl) {
        hpc_wipe(k->qinvl, (size_t)mpz_size(k->p) * sizeof(mp_limb_t));
        free(k->qinvl);
        k->qinvl = NULL;
    }
    mpz_ptr all[] = {k->n, k->n2, k->p, k->q, k->p2, k->q2, k->pm1, k->qm1, k->hp, k->hq,
                     k->qinv_p, k->q2inv_p2, k->ep, k->eq, k->hpe, k->hqe};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        hpc_wipe_mpz(all[i]);
        mpz_clear(all[i]);
    }
    k->has_tables = 0;
}

/* g^m mod prime^2 = 1 + m n = 1 + prime ((m mod prime) other mod prime), as L limbs */
static void gm_half(mpz_srcptr m, mpz_srcptr prime, mpz_srcptr other, mpz_t x, mp_limb_t *dst,
                    int L) {
    mpz_mod(x, m, prime);
    mpz_mul(x, x, other);
    mpz_mod(x, x, prime);
    mpz_mul(x, x, prime);
    mpz_add_ui(x, x, 1);
    mpz_to_limbs(dst, L, x);
}

/* r_side <- uniform n-th residue mod prime^2, times g^m, as a normal residue */
static int owner_half(const hpc_priv *k, const hpc_mod *mod, const hpc_fbtab *tb,
                      mpz_srcptr prime, mpz_srcptr other, mpz_srcptr prime2, mpz_srcptr pm1,
                      mpz_srcptr m, mpz_t out, mpz_t x, mp_limb_t *buf, mp_limb_t *t) {
    const int L = mod->L;
    mp_limb_t *gm = buf, *rm = buf + L, *res = buf + 2 * L;
    gm_half(m, prime, other, x, gm, L);
    mpz_t roz;
    int rc;
    if (k->has_tables) {
        rc = random_below(x, pm1, 0);
        if (rc) return rc;
        fb_exp(mod, tb, x, rm, t);
        hpc_mont_mul(mod, res, rm, gm, t); /* (r R)(gm) R^-1 = r gm */
        mpz_set(out, ro(roz, res, L));
    } else {
        /* Teichmueller lift of a uniform unit: a^p mod p^2 is uniform on the n-th residues */
        rc = random_below(x, prime, 1);
        if (rc) return rc;
        mpz_powm_sec(x, x, prime, prime2);
        mpz_mul(x, x, ro(roz, gm, L));
        mpz_mod(out, x, prime2);
    }
    return HPC_OK;
}

/* four encryptions' halves mod prime^2: out[l] = h^x_l g^m_l with fresh x_l */
static int vowner_half(const hpc_mod *mod, const hpc_fbtab *tb, mpz_srcptr prime,
                       mpz_srcptr other, mpz_srcptr pm1, mpz_t *const m, mpz_t *const x,
                       mpz_t *out, const vspace *w, mp_limb_t *buf) {
    uint64_t *acc = vnum(w, 0), *ld = vnum(w, 1);
    for (int l = 0; l < w->NL; l++) {
        int rc = random_below(x[l], pm1, 0);
        if (rc) return rc;
    }
    vfb_exp(w, tb, x, acc, ld);
    for (int l = 0; l < w->NL; l++) {
        gm_half(m[l], prime, other, x[l], buf, mod->L);
        VSET(w, ld, l, buf);
    }
    VMUL(w, acc, acc, ld); /* (r R)(gm) / R = r gm */
    mpz_t roz;
    for (int l = 0; l < w->NL; l++) {
        VGET(w, acc, l, buf);
        mpz_set(out[l], ro(roz, buf, mod->L));
    }
    for (int l = 0; l < w->NL; l++) hpc_wipe_mpz(x[l]); /* no exponent lingers in memory */
    return HPC_OK;
}

static int vowner_encrypt(const hpc_priv *k, const mp_limb_t *res, mp_limb_t *out, size_t K) {
    vspace wp, wq;
    int rc0 = vspace_init(&wp, &k->mp2, lane_kind(&k->mp2, HPC_F_MUL), 2);
    if (rc0) return rc0;
    rc0 = vspace_init(&wq, &k->mq2, lane_kind(&k->mq2, HPC_F_MUL), 2);
    if (rc0) {
        vspace_free(&wp);
        return rc0;
    }
    const int NL = wp.NL < wq.NL ? wp.NL : wq.NL; /* both halves fill every lane of theirs */
    int Lmax = k->Lp2 > k->Lq2 ? k->Lp2 : k->Lq2;
    mp_limb_t *buf = malloc(Lmax * sizeof(mp_limb_t));
    mpz_t m[HPC_MAXLANES], x[HPC_MAXLANES], cp[HPC_MAXLANES], cq[HPC_MAXLANES], t, tmp;
    for (int l = 0; l < HPC_MAXLANES; l++) mpz_inits(m[l], x[l], cp[l], cq[l], NULL);
    mpz_init(t);
    int rc = buf ? HPC_OK : HPC_ENOMEM;
    for (size_t i = 0; i < K && rc == HPC_OK; i += NL) {
        int lanes = K - i >= (size_t)NL ? NL : (int)(K - i);
        for (int l = 0; l < HPC_MAXLANES; l++)
            mpz_set(m[l], ro(tmp, res + (i + (l < lanes ? l : 0)) * k->Ln, k->Ln));
        rc = vowner_half(&k->mp2, &k->tp, k->p, k->q, k->ep, m, x, cp, &wp, buf);
        if (!rc) rc = vowner_half(&k->mq2, &k->tq, k->q, k->p, k->eq, m, x, cq, &wq, buf);
        for (int l = 0; !rc && l < lanes; l++) {
            /* CRT: c = cq + q^2 ((cp - cq) q^-2 mod p^2) */
            mpz_sub(t, cp[l], cq[l]);
            mpz_mul(t, t, k->q2inv_p2);
            mpz_mod(t, t, k->p2);
            mpz_mul(t, t, k->q2);
            mpz_add(t, t, cq[l]);
            mpz_to_limbs(out + (i + l) * k->Ln2, k->Ln2, t);
        }
    }
    for (int l = 0; l < HPC_MAXLANES; l++) mpz_clears(m[l], x[l], cp[l], cq[l], NULL);
    mpz_clear(t);
    free(buf);
    vspace_free(&wp);
    vspace_free(&wq);
    return rc;
}

int hpc_owner_encrypt(const hpc_priv *k, const mp_limb_t *res, mp_limb_t *out, size_t K) {
    if (k->has_tables && lane_kind(&k->mp2, HPC_F_MUL) && lane_kind(&k->mq2, HPC_F_MUL) && K >= 3)
        return vowner_encrypt(k, res, out, K);
    int Lmax = k->Lp2 > k->Lq2 ? k->Lp2 : k->Lq2;
    mp_limb_t *buf = malloc(5 * Lmax * sizeof(mp_limb_t) + 8);
    if (!buf) return HPC_ENOMEM;
    mp_limb_t *t = buf + 3 * Lmax;
    mpz_t cp, cq, x, tmp;
    mpz_inits(cp, cq, x, NULL);
    int rc = HPC_OK;
    for (size_t i = 0; i < K && rc == HPC_OK; i++) {
        mpz_srcptr m = ro(tmp, res + i * k->Ln, k->Ln);
        mpz_t mcopy;
        mpz_init_set(mcopy, m);
        rc = owner_half(k, &k->mp2, &k->tp, k->p, k->q, k->p2, k->ep, mcopy, cp, x, buf, t);
        if (rc == HPC_OK)
            rc = owner_half(k, &k->mq2, &k->tq, k->q, k->p, k->q2, k->eq, mcopy, cq, x, buf, t);
        mpz_clear(mcopy);
        if (rc) break;
        /* CRT: c = cq + q^2 ((cp - cq) q^-2 mod p^2) */
        mpz_sub(x, cp, cq);
        mpz_mul(x, x, k->q2inv_p2);
        mpz_mod(x, x, k->p2);
        mpz_mul(x, x, k->q2);
        mpz_add(x, x, cq);
        mpz_to_limbs(out + i * k->Ln2, k->Ln2, x);
    }
    hpc_wipe_mpz(x);
    mpz_clears(cp, cq, x, NULL);
    hpc_wipe(buf, 5 * Lmax * sizeof(mp_limb_t) + 8);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* decryption                                                           */
/* The default path is constant-time (hpc_ct.c): ciphertexts are reduced mod p^2
 * with mpn_sec_div_r, exponentiated with fixed windows and whole-table masked
 * selection in the lanes (mpz_powm_sec otherwise), and finished with mpn_sec_*.
 * HPC_VARTIME runs the older path (sliding windows, mpz_powm, mpz division) so
 * the benchmark can show what constant time costs. */

/* The vector path pays for four lanes whatever it fills: worth it from three. */
#define VEC_MIN_LANES 3

/* Lanes per decryption step: 8 when both halves' products run on the IFMA
 * lanes (hpc_eng_ct_powm), 4 when lanes of either kind are chosen and the AVX2
 * ones exist (hpc_ct_vpowm4), 0 for the scalar path. */
static int use_vec(const hpc_priv *k) {
    int kp = lane_kind(&k->mp2, HPC_F_MUL), kq = lane_kind(&k->mq2, HPC_F_MUL);
    if (!kp || !kq) return 0;
    if (kp == HPC_K_IFMA && kq == HPC_K_IFMA) return 8;
    return k->mp2.v && k->mq2.v ? 4 : 0;
}

/* scratch for one decryption batch (up to HPC_MAXLANES lanes) */
#define DL HPC_MAXLANES
typedef struct {
    mp_limb_t *x[2];  /* DL values mod p^2 / q^2 */
    mp_limb_t *y;     /* DL exponentiation results */
    mp_limb_t *m[2];  /* DL halves mod p / q */
    mp_limb_t *scr;   /* hpc_ct_* scratch */
    size_t total;
    mpz_t a, b, c;
} dscratch;

static int dscratch_init(dscratch *d, const hpc_priv *k, size_t extra) {
    const size_t Lp2 = (size_t)k->Lp2, Lq2 = (size_t)k->Lq2;
    const size_t L2 = Lp2 > Lq2 ? Lp2 : Lq2;
    size_t it = hpc_ct_itch((int)L2, k->Ln2 > (int)(2 * L2) ? k->Ln2 : (int)(2 * L2));
    d->total = DL * (Lp2 + Lq2 + L2) + DL * ((size_t)k->sp.L + k->sq.L) + it + extra;
    mp_limb_t *b = calloc(d->total, sizeof(mp_limb_t));
    if (!b) return HPC_ENOMEM;
    d->x[0] = b;
    d->x[1] = d->x[0] + DL * Lp2;
    d->y = d->x[1] + DL * Lq2;
    d->m[0] = d->y + DL * L2;
    d->m[1] = d->m[0] + DL * (size_t)k->sp.L;
    d->scr = d->m[1] + DL * (size_t)k->sq.L;
    mpz_inits(d->a, d->b, d->c, NULL);
    return HPC_OK;
}

static void dscratch_free(dscratch *d) {
    hpc_wipe(d->x[0], d->total * sizeof(mp_limb_t));
    free(d->x[0]);
    mpz_ptr z[3] = {d->a, d->b, d->c};
    for (int i = 0; i < 3; i++) {
        hpc_wipe_mpz(z[i]);
        mpz_clear(z[i]);
    }
}

/* ct (Ln2 limbs) mod prime^2 -> dst (L2 limbs) */
static void reduce_half(const hpc_priv *k, const hpc_half *H, int vt, mp_limb_t *dst,
                        const mp_limb_t *ct, dscratch *d) {
    if (vt) {
        mpz_t c, P2;
        mpz_mod(d->a, ro(c, ct, k->Ln2), ro(P2, H->P2, H->L2));
        mpz_to_limbs(dst, H->L2, d->a);
    } else {
        hpc_ct_mod(dst, ct, k->Ln2, H->P2, H->L2, d->scr);
    }
}

/* dst (L limbs) <- L(y) h mod prime for y = x^e mod prime^2; returns whether y = 1 mod prime */
static int finish_half(const hpc_half *H, int vt, int full, mp_limb_t *dst, const mp_limb_t *y,
                       dscratch *d) {
    const mp_limb_t *h = full ? H->hf : H->h;
    if (!vt) return hpc_ct_lfun(dst, y, H->L2, H->P, H->pinv, h, H->L, d->scr);
    mpz_t t, P, hz;
    mpz_set(d->a, ro(t, y, H->L2));
    mpz_sub_ui(d->a, d->a, 1);
    mpz_tdiv_qr(d->a, d->b, d->a, ro(P, H->P, H->L));
    int valid = mpz_sgn(d->b) == 0;
    mpz_mul(d->a, d->a, ro(hz, h, H->L));
    mpz_mod(d->a, d->a, P);
    mpz_to_limbs(dst, H->L, d->a);
    return valid;
}

/* y (L2 limbs) <- x^e mod prime^2, one value, e = ep or (full) prime - 1 */
static void pow_one(const hpc_half *H, int vt, int full, mp_limb_t *y, const mp_limb_t *x,
                    dscratch *d) {
    mpz_t xz, ez, P2;
    const mp_limb_t *e = full ? H->f : H->e;
    int ne = full ? H->nf : H->ne;
    if (vt)
        mpz_powm(d->a, ro(xz, x, H->L2), ro(ez, e, ne), ro(P2, H->P2, H->L2));
    else
        mpz_powm_sec(d->a, ro(xz, x, H->L2), ro(ez, e, ne), ro(P2, H->P2, H->L2));
    mpz_to_limbs(y, H->L2, d->a);
}

/* The `lanes` values d->x[side] (mod prime^2) -> their decrypted halves d->m[side].
 * Lanes whose fast result is not 1 mod prime (not of the subgroup form) are redone
 * the full way, one by one; *fallbacks counts them. */
static int decrypt_halves(const hpc_priv *k, int side, int lanes, int vec, int vt,
                          dscratch *d, size_t *fallbacks) {
    const hpc_half *H = side ? &k->sq : &k->sp;
    const hpc_mod *mod = side ? &k->mq2 : &k->mp2;
    mp_limb_t *x = d->x[side], *ms = d->m[side];
    const int L2 = H->L2;
    int rc = HPC_OK;
    if (vec == 8) { /* the IFMA lanes */
        const mp_limb_t *in[DL];
        mp_limb_t *out[DL];
        for (int l = 0; l < DL; l++) {
            in[l] = x + (size_t)(l < lanes ? l : 0) * L2;
            out[l] = d->y + (size_t)(l < lanes ? l : 0) * L2;
        }
        hpc_eng e;
        rc = hpc_eng_of(mod, HPC_K_IFMA, &e);
        if (!rc && vt) {
            mpz_t ez;
            rc = hpc_eng_powm(&e, in, lanes, ro(ez, H->e, H->ne), out);
        } else if (!rc) {
            rc = hpc_eng_ct_powm(&e, in, lanes, H->e, H->ne, H->ebits, out);
        }
        if (rc) return rc;
    } else if (vec) {
        const mp_limb_t *in[4];
        mp_limb_t *out[4];
        for (int l = 0; l < 4; l++) {
            in[l] = x + (size_t)(l < lanes ? l : 0) * L2;
            out[l] = d->y + (size_t)(l < lanes ? l : 0) * L2;
        }
        if (vt) {
            mpz_t ez;
            rc = hpc_vpowm4(mod->v, in, lanes, ro(ez, H->e, H->ne), out);
        } else {
            rc = hpc_ct_vpowm4(mod->v, in, lanes, H->e, H->ne, H->ebits, out);
        }
        if (rc) return rc;
    } else {
        for (int l = 0; l < lanes; l++) pow_one(H, vt, 0, d->y + (size_t)l * L2, x + (size_t)l * L2, d);
    }
    /* The one data-dependent branch: whether c is of the subgroup form.  That is a
     * property of the ciphertext (whoever made it knows it), not of p or q; standard
     * keys never take it (c^(p-1) = 1 mod p for every unit). */
    for (int l = 0; l < lanes; l++) {
        mp_limb_t *y = d->y + (size_t)l * L2;
        if (finish_half(H, vt, 0, ms + (size_t)l * H->L, y, d) || !k->fast) continue;
        pow_one(H, vt, 1, y, x + (size_t)l * L2, d);
        finish_half(H, vt, 1, ms + (size_t)l * H->L, y, d);
        if (fallbacks) ++*fallbacks;
    }
    return HPC_OK;
}

/* out (Ln limbs) <- CRT of the halves of lane l */
static void crt_lane(const hpc_priv *k, int vt, int l, mp_limb_t *out, dscratch *d) {
    const hpc_half *P = &k->sp, *Q = &k->sq;
    const mp_limb_t *mp = d->m[0] + (size_t)l * P->L, *mq = d->m[1] + (size_t)l * Q->L;
    if (!vt) {
        hpc_ct_crt(out, k->Ln, mp, P->P, P->L, mq, Q->P, Q->L, k->qinvl, d->scr);
        return;
    }
    mpz_t t;
    mpz_set(d->a, ro(t, mp, P->L));
    mpz_sub(d->a, d->a, ro(t, mq, Q->L));
    mpz_mul(d->a, d->a, k->qinv_p);
    mpz_mod(d->a, d->a, k->p);
    mpz_mul(d->a, d->a, k->q);
    mpz_add(d->a, d->a, ro(t, mq, Q->L));
    mpz_to_limbs(out, k->Ln, d->a);
}

/* d->x[0], d->x[1] hold `lanes` values mod p^2 and q^2: decrypt them into out */
static int decrypt_lanes(const hpc_priv *k, int lanes, int vec, int vt, dscratch *d,
                         mp_limb_t *out, size_t *fallbacks) {
    int rc = decrypt_halves(k, 0, lanes, vec, vt, d, fallbacks);
    if (!rc) rc = decrypt_halves(k, 1, lanes, vec, vt, d, fallbacks);
    for (int l = 0; !rc && l < lanes; l++) crt_lane(k, vt, l, out + (size_t)l * k->Ln, d);
    return rc;
}

int hpc_decrypt(const hpc_priv *k, const mp_limb_t *ct, mp_limb_t *out, size_t K, int flags,
                size_t *fallbacks) {
    const int vt = flags & HPC_VARTIME;
    dscratch d;
    if (dscratch_init(&d, k, 0)) return HPC_ENOMEM;
    int rc = HPC_OK;
    const int vec = use_vec(k);
    for (size_t i = 0; rc == HPC_OK && i < K;) {
        int lanes = vec && K - i >= VEC_MIN_LANES ? (K - i >= (size_t)vec ? vec : (int)(K - i)) : 1;
        for (int l = 0; l < lanes; l++) {
            const mp_limb_t *cl = ct + (i + l) * k->Ln2;
            reduce_half(k, &k->sp, vt, d.x[0] + (size_t)l * k->Lp2, cl, &d);
            reduce_half(k, &k->sq, vt, d.x[1] + (size_t)l * k->Lq2, cl, &d);
        }
        rc = decrypt_lanes(k, lanes, lanes > 1 ? vec : 0, vt, &d, out + i * k->Ln, fallbacks);
        i += lanes;
    }
    dscratch_free(&d);
    return rc;
}

/* Horner packing of `cnt` ciphertexts mod n^2 (public data, public modulus):
 * acc <- prod_j c_j^(2^(j shift)) mod n^2, for the scalar path */
static void horner_public(const hpc_priv *k, const mp_limb_t *ct, size_t cnt, unsigned shift,
                          mp_limb_t *acc, dscratch *d) {
    mpz_t c;
    mpz_set(d->b, ro(c, ct + (cnt - 1) * k->Ln2, k->Ln2));
    for (size_t jj = cnt - 1; jj-- > 0;) {
        for (unsigned s = 0; s < shift; s++) {
            mpz_mul(d->b, d->b, d->b);
            mpz_mod(d->b, d->b, k->n2);
        }
        mpz_mul(d->b, d->b, ro(c, ct + jj * k->Ln2, k->Ln2));
        mpz_mod(d->b, d->b, k->n2);
    }
    mpz_to_limbs(acc, k->Ln2, d->b);
}

int hpc_decrypt_horner(const hpc_priv *k, const mp_limb_t *ct, size_t K, size_t group,
                       unsigned shift, mp_limb_t *out, int flags, size_t *fallbacks) {
    if (group == 0) return HPC_ERANGE;
    const int vt = flags & HPC_VARTIME;
    const int Lmax = k->Lp2 > k->Lq2 ? k->Lp2 : k->Lq2;
    const size_t ng = (K + group - 1) / group;
    const int vec = ng >= VEC_MIN_LANES ? use_vec(k) : 0;
    /* vec: the lanes' Horner inputs (vec groups per prime); scalar: one packed ct */
    size_t extra = vec ? (size_t)vec * group * (size_t)Lmax : (size_t)k->Ln2;
    if (vec && group > ((size_t)-1 / sizeof(mp_limb_t) - 16) / ((size_t)vec * Lmax)) return HPC_ENOMEM;
    dscratch d;
    if (dscratch_init(&d, k, extra)) return HPC_ENOMEM;
    mp_limb_t *xb = d.x[0] + (d.total - extra);
    int rc = HPC_OK;
    for (size_t g = 0; rc == HPC_OK && g < ng;) {
        int lanes = vec && ng - g >= VEC_MIN_LANES ? (ng - g >= (size_t)vec ? vec : (int)(ng - g)) : 1;
        if (lanes > 1) {
            for (int side = 0; side < 2 && rc == HPC_OK; side++) {
                const hpc_half *H = side ? &k->sq : &k->sp;
                const hpc_mod *mod = side ? &k->mq2 : &k->mp2;
                for (int l = 0; l < lanes; l++) {
                    size_t first = (g + l) * group;
                    size_t cnt = K - first < group ? K - first : group;
                    for (size_t jj = 0; jj < group; jj++) {
                        mp_limb_t *dst = xb + ((size_t)l * group + jj) * H->L2;
                        if (jj < cnt) {
                            reduce_half(k, H, vt, dst, ct + (first + jj) * k->Ln2, &d);
                        } else { /* a short last group: 1s at its top leave the product alone */
                            memset(dst, 0, H->L2 * sizeof(mp_limb_t));
                            dst[0] = 1;
                        }
                    }
                }
                mp_limb_t *res[DL];
                for (int l = 0; l < DL; l++) res[l] = d.x[side] + (size_t)(l < lanes ? l : 0) * H->L2;
                hpc_eng e;
                if (vec == 8) {
                    rc = hpc_eng_of(mod, HPC_K_IFMA, &e);
                    if (!rc) rc = hpc_eng_horner(&e, xb, lanes, group, shift, H->L2, res);
                } else {
                    rc = hpc_vhorner4(mod->v, xb, lanes, group, shift, res);
                }
            }
        } else {
            size_t cnt = K - g * group < group ? K - g * group : group;
            horner_public(k, ct + g * group * k->Ln2, cnt, shift, xb, &d);
            reduce_half(k, &k->sp, vt, d.x[0], xb, &d);
            reduce_half(k, &k->sq, vt, d.x[1], xb, &d);
        }
        if (!rc) rc = decrypt_lanes(k, lanes, lanes > 1 ? vec : 0, vt, &d, out + g * k->Ln, fallbacks);
        g += lanes;
    }
    dscratch_free(&d);
    return rc;
}

/* ------------------------------------------------------------------ */
/* public-key encryption                                                */

/* a unit r mod n, uniform (gcd 1) */
static int random_unit(mpz_t r, mpz_srcptr nz, mpz_t g) {
    do {
        int rc = random_below(r, nz, 1);
        if (rc) return rc;
        mpz_gcd(g, r, nz);
    } while (mpz_cmp_ui(g, 1) != 0);
    return HPC_OK;
}

/* c = (1 + m n) rn mod n^2 */
static void pub_combine(mpz_t c, const mp_limb_t *m, int Ln, mpz_srcptr nz, mpz_srcptr rn,
                        mpz_srcptr n2, mp_limb_t *dst, int L2) {
    mpz_t tmp;
    mpz_mul(c, ro(tmp, m, Ln), nz);
    mpz_add_ui(c, c, 1);
    mpz_mul(c, c, rn);
    mpz_mod(c, c, n2);
    mpz_to_limbs(dst, L2, c);
}

int hpc_pub_encrypt(const hpc_mod *mn2, const mp_limb_t *n, int Ln, const mp_limb_t *res,
                    mp_limb_t *out, size_t K) {
    const int L2 = mn2->L;
    mpz_t nz, n2, r, g, c, tmp;
    mpz_inits(r, g, c, NULL);
    mpz_init_set(nz, ro(tmp, n, Ln));
    mpz_init_set(n2, ro(tmp, mn2->N, L2));
    int rc = HPC_OK;
    size_t i = 0;
    hpc_eng e;
    int kind = lane_kind(mn2, HPC_F_MUL);
    if (kind && K >= 3 && hpc_eng_of(mn2, kind, &e) == HPC_OK) {
        /* r^n for a lane-full of r at once: the exponent n is shared */
        const int NL = e.lanes;
        mp_limb_t *buf = calloc(NL * (size_t)L2, sizeof(mp_limb_t));
        if (!buf) rc = HPC_ENOMEM;
        const mp_limb_t *in[HPC_MAXLANES];
        mp_limb_t *rn[HPC_MAXLANES];
        for (int l = 0; l < NL && buf; l++) in[l] = rn[l] = buf + (size_t)l * L2;
        for (; rc == HPC_OK && i < K; i += NL) {
            int lanes = K - i >= (size_t)NL ? NL : (int)(K - i);
            for (int l = 0; l < lanes && rc == HPC_OK; l++) {
                rc = random_unit(r, nz, g);
                memset(rn[l], 0, L2 * sizeof(mp_limb_t));
                if (!rc) mpz_to_limbs(rn[l], L2, r);
            }
            if (!rc) rc = hpc_eng_powm(&e, in, lanes, nz, rn);
            for (int l = 0; !rc && l < lanes; l++)
                pub_combine(c, res + (i + l) * Ln, Ln, nz, ro(tmp, rn[l], L2), n2,
                            out + (i + l) * L2, L2);
        }
        if (buf) hpc_wipe(buf, NL * (size_t)L2 * sizeof(mp_limb_t));
        free(buf);
    }
    for (; rc == HPC_OK && i < K; i++) {
        rc = random_unit(r, nz, g);
        if (rc) break;
        mpz_powm(r, r, nz, n2);
        pub_combine(c, res + i * Ln, Ln, nz, r, n2, out + i * L2, L2);
    }
    hpc_wipe_mpz(r);
    mpz_clears(nz, n2, r, g, c, NULL);
    return rc;
}

int hpc_pub_encrypt_short(const hpc_mod *mn2, const hpc_fbtab *tb, const mp_limb_t *n, int Ln,
                          int abits, const mp_limb_t *res, mp_limb_t *out, size_t K) {
    const int L = mn2->L;
    mp_limb_t *buf = malloc(4 * L * sizeof(mp_limb_t));
    if (!buf) return HPC_ENOMEM;
    mp_limb_t *rm = buf, *gm = buf + L, *t = buf + 2 * L;
    mpz_t a, c, tmp, nz;
    mpz_inits(a, c, NULL);
    mpz_init_set(nz, ro(tmp, n, Ln));
    int rc = HPC_OK;
    size_t i = 0;
    int kind = lane_kind(mn2, HPC_F_MUL);
    if (kind && K >= 3) {
        vspace w;
        mpz_t av[HPC_MAXLANES];
        rc = vspace_init(&w, mn2, kind, 2);
        int have_w = rc == HPC_OK;
        const int NL = have_w ? w.NL : 0;
        for (int l = 0; l < HPC_MAXLANES; l++) mpz_init(av[l]);
        uint64_t *acc = rc ? NULL : vnum(&w, 0), *ld = rc ? NULL : vnum(&w, 1);
        for (; rc == HPC_OK && i < K; i += NL) {
            int lanes = LANES(&w, K, i);
            for (int l = 0; l < NL && rc == HPC_OK; l++) rc = random_bits(av[l], (unsigned)abits);
            if (rc) break;
            vfb_exp(&w, tb, av, acc, ld);
            for (int l = 0; l < NL; l++) {
                mpz_mul(c, ro(tmp, res + (i + (l < lanes ? l : 0)) * Ln, Ln), nz);
                mpz_add_ui(c, c, 1);
                mpz_to_limbs(gm, L, c);
                VSET(&w, ld, l, gm);
            }
            VMUL(&w, acc, acc, ld);
            for (int l = 0; l < lanes; l++) VGET(&w, acc, l, out + (i + l) * L);
        }
        for (int l = 0; l < HPC_MAXLANES; l++) {
            hpc_wipe_mpz(av[l]);
            mpz_clear(av[l]);
        }
        if (have_w) vspace_free(&w);
    }
    for (; rc == HPC_OK && i < K; i++) {
        rc = random_bits(a, (unsigned)abits);
        if (rc) break;
        fb_exp(mn2, tb, a, rm, t);
        mpz_mul(c, ro(tmp, res + i * Ln, Ln), nz);
        mpz_add_ui(c, c, 1);
        mpz_to_limbs(gm, L, c);
        hpc_mont_mul(mn2, out + i * L, rm, gm, t);
    }
    mpz_clears(a, c, nz, NULL);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* encoding                                                             */

int hpc_res_from_i64(const int64_t *v, const mp_limb_t *n, int Ln, mp_limb_t *out, size_t K) {
    for (size_t i = 0; i < K; i++) {
        mp_limb_t *o = out + i * Ln;
        int64_t x = v[i];
        if (x >= 0) {
            memset(o, 0, Ln * sizeof(mp_limb_t));
            o[0] = (mp_limb_t)x;
        } else {
            mp_limb_t mag = (mp_limb_t)0 - (mp_limb_t)x; /* |x|, safe for INT64_MIN */
            mpn_sub_1(o, n, Ln, mag);
        }
    }
    return HPC_OK;
}

int hpc_res_to_i64(const mp_limb_t *res, const mp_limb_t *n, int Ln, int64_t *out, size_t K,
                   size_t *overflow) {
    mp_limb_t *t = malloc(Ln * sizeof(mp_limb_t));
    mp_limb_t *half = malloc(Ln * sizeof(mp_limb_t));
    if (!t || !half) {
        free(t);
        free(half);
        return HPC_ENOMEM;
    }
    mpn_rshift(half, n, Ln, 1); /* floor(n/2) */
    size_t ov = 0;
    for (size_t i = 0; i < K; i++) {
        const mp_limb_t *x = res + i * Ln;
        if (mpn_cmp(x, half, Ln) <= 0) {
            /* non-negative */
            if (!mpn_zero_p(x + 1, Ln - 1) || x[0] > (mp_limb_t)INT64_MAX) {
                ov++;
                out[i] = 0;
            } else
                out[i] = (int64_t)x[0];
        } else {
            mpn_sub_n(t, n, x, Ln); /* |value| */
            if (!mpn_zero_p(t + 1, Ln - 1) || t[0] > ((mp_limb_t)INT64_MAX) + 1) {
                ov++;
                out[i] = 0;
            } else
                out[i] = (int64_t)((mp_limb_t)0 - t[0]);
        }
    }
    free(t);
    free(half);
    *overflow = ov;
    return HPC_OK;
}

int hpc_pack_i64(const int64_t *v, size_t P, unsigned w, const mp_limb_t *n, int Ln,
                 mp_limb_t *out, size_t K) {
    mpz_t X, nz, tmp;
    mpz_init(X);
    mpz_init_set(nz, ro(tmp, n, Ln));
    for (size_t i = 0; i < K; i++) {
        const int64_t *vi = v + i * P;
        mpz_set_si(X, 0);
        for (size_t s = P; s-- > 0;) {
            mpz_mul_2exp(X, X, w);
            if (vi[s] >= 0)
                mpz_add_ui(X, X, (unsigned long)vi[s]);
            else
                mpz_sub_ui(X, X, (unsigned long)(-(vi[s] + 1)) + 1UL);
        }
        mpz_mod(X, X, nz);
        mpz_to_limbs(out + i * Ln, Ln, X);
    }
    mpz_clears(X, nz, NULL);
    return HPC_OK;
}

int hpc_unpack_i64(const mp_limb_t *res, const mp_limb_t *n, int Ln, size_t P, unsigned w,
                   int64_t *out, size_t K) {
    mpz_t X, d, nz, half, tmp;
    mpz_inits(X, d, half, NULL);
    mpz_init_set(nz, ro(tmp, n, Ln));
    mpz_fdiv_q_2exp(half, nz, 1);
    const long hb = 1L << (w - 1);
    for (size_t i = 0; i < K; i++) {
        mpz_set(X, ro(tmp, res + i * Ln, Ln));
        if (mpz_cmp(X, half) > 0) mpz_sub(X, X, nz);
        int64_t *o = out + i * P;
        for (size_t s = 0; s < P; s++) {
            mpz_fdiv_r_2exp(d, X, w);
            long v = (long)mpz_get_ui(d);
            if (v >= hb) v -= 2 * hb;
            o[s] = v;
            if (v >= 0)
                mpz_sub_ui(X, X, (unsigned long)v);
            else
                mpz_add_ui(X, X, (unsigned long)(-v));
            mpz_fdiv_q_2exp(X, X, w);
        }
    }
    mpz_clears(X, d, nz, half, NULL);
    return HPC_OK;
}

int hpc_gm(const mp_limb_t *res, const mp_limb_t *n, int Ln, int L2, mp_limb_t *out, size_t K) {
    mpz_t x, tmp, nz;
    mpz_init(x);
    mpz_init_set(nz, ro(tmp, n, Ln));
    for (size_t i = 0; i < K; i++) {
        mpz_mul(x, ro(tmp, res + i * Ln, Ln), nz);
        mpz_add_ui(x, x, 1);
        mpz_to_limbs(out + i * L2, L2, x);
    }
    mpz_clears(x, nz, NULL);
    return HPC_OK;
}

int hpc_mod_lanes(const hpc_mod *m) {
    hpc_eng e;
    int kind = lane_kind(m, HPC_F_MUL);
    return kind && hpc_eng_of(m, kind, &e) == HPC_OK ? e.lanes : 1;
}

static double seconds_between(const struct timespec *t0, const struct timespec *t1) {
    return (double)(t1->tv_sec - t0->tv_sec) + 1e-9 * (double)(t1->tv_nsec - t0->tv_nsec);
}

double hpc_bench_mont_mul(const hpc_mod *m, size_t iters, int square) {
    const int L = m->L;
    int kind = lane_kind(m, square ? HPC_F_SQR : HPC_F_MUL);
    if (kind) { /* the product the batch kernels use: per lane of a multi-lane product */
        vspace w;
        if (vspace_init(&w, m, kind, 2)) return -1.0;
        uint64_t *a = vnum(&w, 0), *b = vnum(&w, 1);
        memcpy(a, w.r2, w.V * sizeof(uint64_t));
        VMUL(&w, b, w.r2, w.r2);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t i = 0; i < iters; i++) {
            if (square)
                VSQR(&w, a, a);
            else
                VMUL(&w, a, a, b);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        volatile uint64_t sink = a[0];
        (void)sink;
        vspace_free(&w);
        return seconds_between(&t0, &t1) / ((double)w.NL * iters);
    }
    mp_limb_t *t = malloc(4 * L * sizeof(mp_limb_t));
    if (!t) return -1.0;
    mp_limb_t *a = t + 2 * L, *b = t + 3 * L;
    memcpy(a, m->R2, L * sizeof(mp_limb_t));
    memcpy(b, m->one, L * sizeof(mp_limb_t));
    b[0] ^= 0x5555;
    if (mpn_cmp(b, m->N, L) >= 0) mpn_sub_n(b, b, m->N, L);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < iters; i++) {
        if (square)
            hpc_mont_sqr(m, a, a, t);
        else
            hpc_mont_mul(m, a, a, b, t);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    volatile mp_limb_t sink = a[0];
    (void)sink;
    free(t);
    return seconds_between(&t0, &t1) / (double)iters;
}

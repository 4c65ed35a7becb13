/* hpc_dispatch: kernel choice and the lane engines (see hpc_dispatch.h). */
#include "hpc_dispatch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpc_ct.h"
#include "hpc_ifma.h"
#include "hpc_vec.h"

/* ------------------------------------------------------------------ */
/* choice                                                               */

static signed char g_choice[HPC_VEC_MAX_LIMBS + 1][HPC_NFAM];
static int g_choice_init = 0;
static int g_force = -1;

static void choice_init(void) {
    if (!g_choice_init) {
        memset(g_choice, -1, sizeof(g_choice));
        g_choice_init = 1;
    }
}

void hpc_kernel_choose(int L, int fam, int kind) {
    choice_init();
    if (L < 0 || L > HPC_VEC_MAX_LIMBS || fam < 0 || fam >= HPC_NFAM) return;
    g_choice[L][fam] = (signed char)(kind >= 0 && kind < HPC_NKERN ? kind : -1);
}

void hpc_kernel_force(int kind) { g_force = kind >= 0 && kind < HPC_NKERN ? kind : -1; }

int hpc_kernel_forced(void) { return g_force; }

int hpc_kernel_usable(const hpc_mod *m, int kind, int fam) {
    (void)fam; /* every candidate runs every family today */
    if (kind == HPC_K_SCALAR) return 1;
    if (!hpc_vec_available()) return 0; /* set_simd(False) or HEPAILLIER_SIMD=0 */
    if (kind == HPC_K_AVX2) return m->v != NULL;
    if (kind == HPC_K_IFMA) return m->z != NULL;
    return 0;
}

int hpc_kernel(const hpc_mod *m, int fam) {
    if (!hpc_vec_available()) return HPC_K_SCALAR;
    choice_init();
    int k = g_force;
    if (k < 0 && m->L <= HPC_VEC_MAX_LIMBS) k = g_choice[m->L][fam];
    if (k < 0) k = HPC_K_IFMA; /* unmeasured: the widest the CPU has */
    if (k == HPC_K_IFMA && !hpc_kernel_usable(m, HPC_K_IFMA, fam)) k = HPC_K_AVX2;
    if (k == HPC_K_AVX2 && !hpc_kernel_usable(m, HPC_K_AVX2, fam)) k = HPC_K_SCALAR;
    return k;
}

/* ------------------------------------------------------------------ */
/* engines                                                              */

static void v_set(const void *c, uint64_t *d, int l, const mp_limb_t *x) { hpc_vset(c, d, l, x); }
static void v_get(const void *c, const uint64_t *s, int l, mp_limb_t *x) { hpc_vget(c, s, l, x); }
static void v_copy(const void *c, uint64_t *d, int ld, const uint64_t *s, int ls) {
    hpc_vcopy_lane(c, d, ld, s, ls);
}
static void v_mul(const void *c, uint64_t *o, const uint64_t *a, const uint64_t *b, uint64_t *s) {
    hpc_vmul(c, o, a, b, s);
}
static void v_sqr(const void *c, uint64_t *o, const uint64_t *a, uint64_t *s) { hpc_vsqr(c, o, a, s); }

static void z_set(const void *c, uint64_t *d, int l, const mp_limb_t *x) { hpc_zset(c, d, l, x); }
static void z_get(const void *c, const uint64_t *s, int l, mp_limb_t *x) { hpc_zget(c, s, l, x); }
static void z_copy(const void *c, uint64_t *d, int ld, const uint64_t *s, int ls) {
    hpc_zcopy_lane(c, d, ld, s, ls);
}
static void z_mul(const void *c, uint64_t *o, const uint64_t *a, const uint64_t *b, uint64_t *s) {
    hpc_zmul(c, o, a, b, s);
}
static void z_sqr(const void *c, uint64_t *o, const uint64_t *a, uint64_t *s) { hpc_zsqr(c, o, a, s); }
static void z_select(const void *c, uint64_t *d, const uint64_t *t, size_t n, uint64_t i) {
    hpc_zselect(c, d, t, n, i);
}

int hpc_eng_of(const hpc_mod *m, int kind, hpc_eng *e) {
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    if (kind == HPC_K_AVX2 && m->v) {
        e->lanes = 4;
        e->ctx = m->v;
        e->V = hpc_vwords(m->v);
        e->scr = hpc_vscratch(m->v);
        e->set = v_set, e->get = v_get, e->copy_lane = v_copy, e->mul = v_mul, e->sqr = v_sqr;
        e->one = hpc_vconst_one(m->v), e->unit = hpc_vconst_unit(m->v), e->r2 = hpc_vconst_r2(m->v);
        return HPC_OK;
    }
    if (kind == HPC_K_IFMA && m->z) {
        e->lanes = 8;
        e->ctx = m->z;
        e->V = hpc_zwords(m->z);
        e->scr = hpc_zscratch(m->z);
        e->set = z_set, e->get = z_get, e->copy_lane = z_copy, e->mul = z_mul, e->sqr = z_sqr;
        e->select = z_select;
        e->one = hpc_zconst_one(m->z), e->unit = hpc_zconst_unit(m->z), e->r2 = hpc_zconst_r2(m->z);
        return HPC_OK;
    }
    return HPC_ERANGE;
}

/* ------------------------------------------------------------------ */
/* engine-generic exponentiation                                        */

static int window_for(size_t ebits) {
    return ebits > 1500 ? 6 : ebits > 400 ? 5 : ebits > 120 ? 4 : ebits > 24 ? 3 : 1;
}

/* lanes (1..e->lanes) values into dst (missing lanes repeat lane 0), times R^2 / R */
static void load_mont(const hpc_eng *e, uint64_t *dst, const mp_limb_t *const *a, int lanes,
                      uint64_t *tmp, uint64_t *scr) {
    for (int l = 0; l < e->lanes; l++) e->set(e->ctx, tmp, l, a[l < lanes ? l : 0]);
    e->mul(e->ctx, dst, tmp, e->r2, scr);
}

static void store_plain(const hpc_eng *e, const uint64_t *x, int lanes, mp_limb_t *const *out,
                        uint64_t *tmp, uint64_t *scr) {
    e->mul(e->ctx, tmp, x, e->unit, scr);
    for (int l = 0; l < lanes; l++) e->get(e->ctx, tmp, l, out[l]);
}

int hpc_eng_powm(const hpc_eng *e, const mp_limb_t *const *a, int lanes, mpz_srcptr ex,
                 mp_limb_t *const *out) {
    if (lanes < 1 || lanes > e->lanes) return HPC_ERANGE;
    const size_t V = e->V;
    if (mpz_sgn(ex) == 0) {
        /* L is not in the engine: lane 0 of unit read back gives 1 with the right width */
        uint64_t *tmp = hpc_zalloc(V);
        if (!tmp) return HPC_ENOMEM;
        memcpy(tmp, e->unit, V * sizeof(uint64_t));
        for (int l = 0; l < lanes; l++) e->get(e->ctx, tmp, l, out[l]);
        free(tmp);
        return HPC_OK;
    }
    size_t ebits = mpz_sizeinbase(ex, 2);
    int w = window_for(ebits);
    size_t ntab = (size_t)1 << (w - 1);
    uint64_t *buf = hpc_zalloc(V * (ntab + 3));
    uint64_t *scr = hpc_zalloc(e->scr);
    if (!buf || !scr) {
        free(buf);
        free(scr);
        return HPC_ENOMEM;
    }
    uint64_t *tab = buf, *x2 = buf + ntab * V, *res = x2 + V, *tmp = res + V;
    load_mont(e, tab, a, lanes, tmp, scr);
    if (ntab > 1) {
        e->sqr(e->ctx, x2, tab, scr);
        for (size_t i = 1; i < ntab; i++) e->mul(e->ctx, tab + i * V, tab + (i - 1) * V, x2, scr);
    }
    long i = (long)ebits - 1;
    int started = 0;
    while (i >= 0) {
        if (!mpz_tstbit(ex, (mp_bitcnt_t)i)) {
            e->sqr(e->ctx, res, res, scr);
            i--;
            continue;
        }
        long lo = i - w + 1 < 0 ? 0 : i - w + 1;
        while (!mpz_tstbit(ex, (mp_bitcnt_t)lo)) lo++;
        unsigned val = 0;
        for (long b = i; b >= lo; b--) val = (val << 1) | (unsigned)mpz_tstbit(ex, (mp_bitcnt_t)b);
        if (!started) {
            memcpy(res, tab + (val >> 1) * V, V * sizeof(uint64_t));
            started = 1;
        } else {
            for (long b = i; b >= lo; b--) e->sqr(e->ctx, res, res, scr);
            e->mul(e->ctx, res, res, tab + (val >> 1) * V, scr);
        }
        i = lo - 1;
    }
    store_plain(e, res, lanes, out, tmp, scr);
    free(buf);
    free(scr);
    return HPC_OK;
}


int hpc_eng_ct_powm(const hpc_eng *e, const mp_limb_t *const *a, int lanes, const mp_limb_t *ex,
                    int ne, size_t ebits, mp_limb_t *const *out) {
    if (!e->select || lanes < 1 || lanes > e->lanes || ebits == 0 || ne < 1) return HPC_ERANGE;
    const size_t V = e->V;
    const int w = ebits > 512 ? 5 : ebits > 96 ? 4 : 3; /* as hpc_ct.c */
    const size_t ntab = (size_t)1 << w;
    const size_t words = V * (ntab + 3);
    uint64_t *buf = hpc_zalloc(words), *scr = hpc_zalloc(e->scr);
    if (!buf || !scr) {
        free(buf);
        free(scr);
        return HPC_ENOMEM;
    }
    uint64_t *tab = buf, *acc = buf + ntab * V, *sel = acc + V, *tmp = sel + V;
    for (int l = 0; l < e->lanes; l++) e->set(e->ctx, tmp, l, a[l < lanes ? l : 0]);
    /* tab[i] = a^i (Montgomery form); tab[0] = 1 so a zero digit costs the same */
    memcpy(tab, e->one, V * sizeof(uint64_t));
    e->mul(e->ctx, tab + V, tmp, e->r2, scr);
    for (size_t i = 2; i < ntab; i++) e->mul(e->ctx, tab + i * V, tab + (i - 1) * V, tab + V, scr);
    const size_t nd = (ebits + (size_t)w - 1) / (size_t)w;
    e->select(e->ctx, acc, tab, ntab, hpc_ct_digit_at(ex, ne, ebits, (nd - 1) * (size_t)w, w));
    for (size_t d = nd - 1; d-- > 0;) {
        for (int s = 0; s < w; s++) e->sqr(e->ctx, acc, acc, scr);
        e->select(e->ctx, sel, tab, ntab, hpc_ct_digit_at(ex, ne, ebits, d * (size_t)w, w));
        e->mul(e->ctx, acc, acc, sel, scr);
    }
    e->mul(e->ctx, acc, acc, e->unit, scr); /* leave Montgomery form */
    for (int l = 0; l < lanes; l++) e->get(e->ctx, acc, l, out[l]);
    hpc_wipe(buf, words * sizeof(uint64_t));
    hpc_wipe(scr, e->scr * sizeof(uint64_t));
    free(buf);
    free(scr);
    return HPC_OK;
}

int hpc_eng_horner(const hpc_eng *e, const mp_limb_t *x, int lanes, size_t cnt, unsigned shift,
                   int L, mp_limb_t *const *out) {
    if (lanes < 1 || lanes > e->lanes || cnt == 0) return HPC_ERANGE;
    const size_t V = e->V;
    uint64_t *buf = hpc_zalloc(V * 3);
    uint64_t *scr = hpc_zalloc(e->scr);
    if (!buf || !scr) {
        free(buf);
        free(scr);
        return HPC_ENOMEM;
    }
    uint64_t *res = buf, *cur = buf + V, *tmp = buf + 2 * V;
    const mp_limb_t *ptr[HPC_MAXLANES];
    for (size_t jj = cnt; jj-- > 0;) {
        for (int l = 0; l < e->lanes; l++)
            ptr[l] = x + ((size_t)(l < lanes ? l : 0) * cnt + jj) * L;
        if (jj == cnt - 1) {
            load_mont(e, res, ptr, e->lanes, tmp, scr);
        } else {
            load_mont(e, cur, ptr, e->lanes, tmp, scr);
            for (unsigned s = 0; s < shift; s++) e->sqr(e->ctx, res, res, scr);
            e->mul(e->ctx, res, res, cur, scr);
        }
    }
    store_plain(e, res, lanes, out, tmp, scr);
    free(buf);
    free(scr);
    return HPC_OK;
}

/* ------------------------------------------------------------------ */
/* measurement                                                          */

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* a deterministic value below N (L limbs) */
static void sample(const hpc_mod *m, mp_limb_t *x, unsigned seed) {
    uint64_t s = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (int i = 0; i < m->L; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = s;
    }
    while (mpn_cmp(x, m->N, m->L) >= 0) x[m->L - 1] >>= 1;
}

double hpc_bench_kernel(const hpc_mod *m, int kind, int fam, size_t iters, int reps) {
    if (!hpc_kernel_usable(m, kind, fam) || iters == 0 || reps < 1) return -1.0;
    const int L = m->L;
    double best = -1.0;
    if (fam == HPC_F_MUL || fam == HPC_F_SQR) {
        if (kind == HPC_K_SCALAR) {
            mp_limb_t *t = malloc(4 * (size_t)L * sizeof(mp_limb_t));
            if (!t) return -1.0;
            mp_limb_t *a = t + 2 * L, *b = t + 3 * L;
            sample(m, a, 1);
            sample(m, b, 2);
            for (int r = 0; r < reps; r++) {
                double t0 = cpu_now();
                for (size_t i = 0; i < iters; i++) {
                    if (fam == HPC_F_SQR)
                        hpc_mont_sqr(m, a, a, t);
                    else
                        hpc_mont_mul(m, a, a, b, t);
                }
                double dt = (cpu_now() - t0) / (double)iters;
                if (best < 0 || dt < best) best = dt;
            }
            free(t);
            return best;
        }
        hpc_eng e;
        if (hpc_eng_of(m, kind, &e)) return -1.0;
        uint64_t *a = hpc_zalloc(2 * e.V), *scr = hpc_zalloc(e.scr);
        mp_limb_t *x = malloc((size_t)L * sizeof(mp_limb_t));
        if (!a || !scr || !x) {
            free(a), free(scr), free(x);
            return -1.0;
        }
        uint64_t *b = a + e.V;
        for (int l = 0; l < e.lanes; l++) {
            sample(m, x, 10 + l);
            e.set(e.ctx, a, l, x);
            sample(m, x, 30 + l);
            e.set(e.ctx, b, l, x);
        }
        for (int r = 0; r < reps; r++) {
            double t0 = cpu_now();
            for (size_t i = 0; i < iters; i++) {
                if (fam == HPC_F_SQR)
                    e.sqr(e.ctx, a, a, scr);
                else
                    e.mul(e.ctx, a, a, b, scr);
            }
            double dt = (cpu_now() - t0) / ((double)iters * e.lanes);
            if (best < 0 || dt < best) best = dt;
        }
        free(a), free(scr), free(x);
        return best;
    }
    /* batches: the real entry points on 8 items, forced to `kind` */
    const size_t K = 8;
    mp_limb_t *buf = malloc(3 * K * (size_t)L * sizeof(mp_limb_t));
    if (!buf) return -1.0;
    mp_limb_t *a = buf, *b = buf + K * L, *o = buf + 2 * K * L;
    for (size_t k = 0; k < K; k++) {
        sample(m, a + k * L, 50 + (unsigned)k);
        sample(m, b + k * L, 70 + (unsigned)k);
    }
    for (int r = 0; r < reps; r++) {
        int rc = HPC_OK;
        double t0 = cpu_now();
        for (size_t i = 0; i < iters && rc == HPC_OK; i++) {
            if (fam == HPC_F_FOLD)
                rc = hpc_mulmod_k(m, kind, a, b, o, K);
            else {
                rc = hpc_to_mont_k(m, kind, a, o, K);
                if (!rc) rc = hpc_from_mont_k(m, kind, o, o, K);
            }
        }
        double dt = (cpu_now() - t0) / ((double)iters * K);
        if (rc) {
            best = -1.0;
            break;
        }
        if (best < 0 || dt < best) best = dt;
    }
    free(buf);
    return best;
}

/* hpc_dispatch: which kernel runs each family of operations, and one lane
 * interface over the vector kernels (AVX2 four lanes, AVX-512 IFMA eight).
 *
 * Every batch function asks hpc_kernel(m, family) which candidate to run:
 * an explicit override (hpc_kernel_force, set_simd), else the choice the
 * Python layer measured for m's size (hpc_kernel_choose), else the widest
 * kernel the CPU has.  All candidates give bit-identical results: on one
 * modulus they share the Montgomery radix R (hpc_mod.kfix), so Montgomery-form
 * data made by one is valid for the others.  Code that wants lanes (any
 * exponentiation, including a constant-time one) takes an hpc_eng from
 * hpc_eng_of and calls its function pointers; it never names AVX2 or IFMA.
 */
#ifndef HPC_DISPATCH_H
#define HPC_DISPATCH_H

#include "hpc.h"

#define HPC_K_SCALAR 0
#define HPC_K_AVX2 1
#define HPC_K_IFMA 2
#define HPC_NKERN 3

#define HPC_F_MUL 0  /* Montgomery products: every exponentiation and product chain */
#define HPC_F_SQR 1  /* squaring chains (a^(2^s), slot shifts) */
#define HPC_F_FOLD 2 /* plain products a b mod N (AVX2: the folding reduction) */
#define HPC_F_CONV 3 /* to and from Montgomery form */
#define HPC_NFAM 4

#define HPC_MAXLANES 8

/* A lane engine: `lanes` Montgomery computations per call.  Numbers hold V
 * words from hpc_zalloc (64-byte aligned); products need `scr` words of scratch. */
typedef struct {
    int kind, lanes;
    size_t V, scr;
    const void *ctx;
    void (*set)(const void *ctx, uint64_t *dst, int lane, const mp_limb_t *x);
    void (*get)(const void *ctx, const uint64_t *src, int lane, mp_limb_t *x);
    void (*copy_lane)(const void *ctx, uint64_t *dst, int ldst, const uint64_t *src, int lsrc);
    void (*mul)(const void *ctx, uint64_t *out, const uint64_t *a, const uint64_t *b,
                uint64_t *scr);
    void (*sqr)(const void *ctx, uint64_t *out, const uint64_t *a, uint64_t *scr);
    /* dst <- tab[d] of n numbers by a masked pass over all of them (constant time);
     * NULL for engines whose constant-time code lives elsewhere (AVX2: hpc_ct.c) */
    void (*select)(const void *ctx, uint64_t *dst, const uint64_t *tab, size_t n, uint64_t d);
    const uint64_t *one, *unit, *r2; /* R mod N, the integer 1, R^2 mod N (all lanes) */
} hpc_eng;

/* The kernel (HPC_K_*) family `fam` of m runs on now. */
int hpc_kernel(const hpc_mod *m, int fam);
/* 1 when candidate `kind` can run family `fam` on m. */
int hpc_kernel_usable(const hpc_mod *m, int kind, int fam);
/* e <- the lane engine of `kind` (AVX2 or IFMA) for m; HPC_ERANGE when m has none. */
int hpc_eng_of(const hpc_mod *m, int kind, hpc_eng *e);
/* Record the measured choice for moduli of L limbs (kind -1 forgets it). */
void hpc_kernel_choose(int L, int fam, int kind);
/* Override every choice with `kind` (-1: no override). */
void hpc_kernel_force(int kind);
int hpc_kernel_forced(void);

/* out[l] = a[l]^ex mod N for l < lanes (sliding window); a[l] < N, normal form. */
int hpc_eng_powm(const hpc_eng *e, const mp_limb_t *const *a, int lanes, mpz_srcptr ex,
                 mp_limb_t *const *out);
/* Constant time, as hpc_ct_vpowm4 but on any engine with `select`: out[l] =
 * a[l]^e mod N, e secret (ne limbs, its first ebits bits; ebits alone fixes the
 * schedule: fixed windows, each table entry taken by a masked whole-table pass). */
int hpc_eng_ct_powm(const hpc_eng *e, const mp_limb_t *const *a, int lanes, const mp_limb_t *ex,
                    int ne, size_t ebits, mp_limb_t *const *out);
/* out[l] = prod_j x[l][j]^(2^(j shift)) mod N, j < cnt (layout as hpc_vhorner4). */
int hpc_eng_horner(const hpc_eng *e, const mp_limb_t *x, int lanes, size_t cnt, unsigned shift,
                   int L, mp_limb_t *const *out);

/* The batch entry points of hpc.h with the candidate given (for measurement). */
int hpc_mulmod_k(const hpc_mod *m, int kind, const mp_limb_t *a, const mp_limb_t *b,
                 mp_limb_t *out, size_t K);
int hpc_to_mont_k(const hpc_mod *m, int kind, const mp_limb_t *a, mp_limb_t *out, size_t K);
int hpc_from_mont_k(const hpc_mod *m, int kind, const mp_limb_t *a, mp_limb_t *out, size_t K);

/* CPU seconds per item of family `fam` on candidate `kind` (min over `reps`
 * repeats of `iters` items); -1 when the candidate cannot run it. */
double hpc_bench_kernel(const hpc_mod *m, int kind, int fam, size_t iters, int reps);

#endif

/* hpc_vec: four independent Montgomery computations at once, one per AVX2 lane.
 *
 * Numbers are held in radix 2^r (r = 28, or 27 for very large moduli) so a
 * 32x32-bit lane product fits 64 bits with room to accumulate a whole column
 * without carrying; one vpmuludq does four limb products.  On a CPU without
 * AVX2 (or on another architecture) hpc_vec_available() is 0 and callers keep
 * their scalar GMP path.  All results are exact and identical to the scalar
 * path; only the speed differs.
 */
#ifndef HPC_VEC_H
#define HPC_VEC_H

#include <gmp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hpc_vmod hpc_vmod;

/* Moduli with fewer 64-bit limbs stay scalar (the lanes would not pay off). */
#define HPC_VEC_MIN_LIMBS 8
/* ... and larger ones than n^2 of a 8192-bit key do too. */
#define HPC_VEC_MAX_LIMBS 256

/* 1 when the CPU has AVX2 and the vector path is enabled (the default). */
int hpc_vec_available(void);
/* Turn the vector path on or off for the whole process (tests compare both). */
void hpc_vec_enable(int on);
/* For good, before any context exists: behave exactly as on a CPU without AVX2
 * (no contexts, so the scalar Montgomery radix is 2^(64 L)). */
void hpc_vec_forbid(void);

/* Context for an odd modulus N of L 64-bit limbs; NULL when unavailable or out of memory. */
hpc_vmod *hpc_vmod_new(const mp_limb_t *N, int L);
/* ... with radix 2^r and nl digits given (R = 2^(r nl)), so the lanes can share
 * R with another kernel (the IFMA lanes: r = 26, nl = 2 x their 52-bit digits) */
hpc_vmod *hpc_vmod_new_radix(const mp_limb_t *N, int L, int r, int nl);
/* 0 once hpc_vec_forbid ran */
int hpc_vec_allowed(void);
void hpc_vmod_free(hpc_vmod *m);

/* Montgomery radix of this context: R = 2^hpc_vmod_rbits(m) (a little above 2^(64 L)). */
int hpc_vmod_rbits(const hpc_vmod *m);

/* Lane-level primitives.  A "vnum" holds four numbers (one per lane) in
 * hpc_vwords(m) words from hpc_valloc; products need hpc_vscratch(m) words of
 * scratch.  Values are in Montgomery form (x R mod N) except where noted. */
size_t hpc_vwords(const hpc_vmod *m);
/* Broadcast constants of the context: R mod N (Montgomery 1), the integer 1
 * (a product by it leaves Montgomery form), R^2 mod N (a product enters it). */
const uint64_t *hpc_vconst_one(const hpc_vmod *m);
const uint64_t *hpc_vconst_unit(const hpc_vmod *m);
const uint64_t *hpc_vconst_r2(const hpc_vmod *m);
size_t hpc_vscratch(const hpc_vmod *m);
uint64_t *hpc_valloc(size_t words); /* 32-byte aligned; release with free() */
/* lane <- the L-limb value x (< N); lane -> L limbs, fully reduced below N */
void hpc_vset(const hpc_vmod *m, uint64_t *dst, int lane, const mp_limb_t *x);
void hpc_vget(const hpc_vmod *m, const uint64_t *src, int lane, mp_limb_t *x);
void hpc_vcopy_lane(const hpc_vmod *m, uint64_t *dst, int ldst, const uint64_t *src, int lsrc);
/* out = a b / R, out = a^2 / R (mod N, lane by lane); out may alias the inputs */
void hpc_vmul(const hpc_vmod *m, uint64_t *out, const uint64_t *a, const uint64_t *b,
              uint64_t *scratch);
void hpc_vsqr(const hpc_vmod *m, uint64_t *out, const uint64_t *a, uint64_t *scratch);

/* out[l] = t[l] mod N for lanes (1..4) plain products t[l] < N^2 of 2L limbs each
 * (t and out: consecutive numbers); scratch: hpc_vscratch(m) words. */
int hpc_vreduce4(const hpc_vmod *m, const mp_limb_t *t, int lanes, mp_limb_t *out,
                 uint64_t *scratch);

/* out[l] = a[l]^e mod N for l < lanes (1..4); a[l] are L-limb values < N. */
int hpc_vpowm4(const hpc_vmod *m, const mp_limb_t *const a[4], int lanes, mpz_srcptr e,
               mp_limb_t *const out[4]);

/* Horner packing for 4 lanes: out[l] = prod_j x[l][j]^(2^(j shift)) mod N, j < cnt.
 * x holds lanes*cnt L-limb values < N, lane-major (lane l's j-th value at (l cnt + j) L). */
int hpc_vhorner4(const hpc_vmod *m, const mp_limb_t *x, int lanes, size_t cnt, unsigned shift,
                 mp_limb_t *const out[4]);

#endif

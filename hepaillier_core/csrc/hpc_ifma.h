/* hpc_ifma: eight independent Montgomery computations at once, one per lane of
 * an AVX-512 register, in radix 2^52 with the IFMA multiply-adds
 * (vpmadd52luq / vpmadd52huq: 52x52-bit products added to 64-bit lanes).
 *
 * Same contract as the AVX2 lanes of hpc_vec.h: a "znum" holds eight numbers
 * (limb j of lane l at word 8 j + l), values stay below 2N between products,
 * and R = 2^(52 m) with m = ceil((64 L + 2) / 52) digits.  On a CPU or
 * compiler without AVX-512 IFMA hpc_zmod_new returns NULL and nothing here runs.
 */
#ifndef HPC_IFMA_H
#define HPC_IFMA_H

#include <gmp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hpc_zmod hpc_zmod;

/* 1 when the CPU has AVX-512 F + IFMA (and this build can use them). */
int hpc_ifma_supported(void);
/* Digits (radix 2^52) of the IFMA context for an L-limb modulus. */
int hpc_ifma_digits(int L);

hpc_zmod *hpc_zmod_new(const mp_limb_t *N, int L);
void hpc_zmod_free(hpc_zmod *z);
int hpc_zmod_rbits(const hpc_zmod *z);
size_t hpc_zwords(const hpc_zmod *z);   /* words per eight-lane number */
size_t hpc_zscratch(const hpc_zmod *z); /* words of product scratch */
const uint64_t *hpc_zconst_one(const hpc_zmod *z);
const uint64_t *hpc_zconst_unit(const hpc_zmod *z);
const uint64_t *hpc_zconst_r2(const hpc_zmod *z);
/* 64-byte aligned words; release with free() */
uint64_t *hpc_zalloc(size_t words);
void hpc_zset(const hpc_zmod *z, uint64_t *dst, int lane, const mp_limb_t *x);
void hpc_zget(const hpc_zmod *z, const uint64_t *src, int lane, mp_limb_t *x);
void hpc_zcopy_lane(const hpc_zmod *z, uint64_t *dst, int ldst, const uint64_t *src, int lsrc);
/* out = a b / R, a^2 / R (mod N, lane by lane, below 2N); out may alias inputs */
void hpc_zmul(const hpc_zmod *z, uint64_t *out, const uint64_t *a, const uint64_t *b,
              uint64_t *scratch);
void hpc_zsqr(const hpc_zmod *z, uint64_t *out, const uint64_t *a, uint64_t *scratch);
/* dst <- tab[d] (n eight-lane numbers) by one masked pass over the whole table:
 * the memory touched and the instructions run do not depend on d */
void hpc_zselect(const hpc_zmod *z, uint64_t *dst, const uint64_t *tab, size_t n, uint64_t d);

#endif

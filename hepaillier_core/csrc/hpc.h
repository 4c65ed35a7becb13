/* hpc: the arithmetic kernels of hepaillier_core.
 *
 * Everything here works on fixed-size little-endian limb arrays (GMP's
 * mp_limb_t layout) so NumPy uint64 arrays are read with no copy.  Every
 * batch function is pure (no global state, scratch is malloc'ed per call)
 * so callers may run several on different threads with the GIL released.
 * Functions return 0 on success and a negative HPC_E* code on failure.
 */
#ifndef HPC_H
#define HPC_H

#include <gmp.h>
#include <stddef.h>
#include <stdint.h>

#include "hpc_ifma.h"
#include "hpc_vec.h"
#include "hpc_ct.h"

#define HPC_OK 0
#define HPC_ENOMEM -1
#define HPC_ENOINV -2     /* an element had no inverse (shares a factor with N) */
#define HPC_ERANDOM -3    /* the OS CSPRNG failed */
#define HPC_ERANGE -4     /* a value does not fit where it must go */

/* A Montgomery context for an odd modulus N of L limbs. */
typedef struct {
    int L;
    mp_limb_t *N;
    mp_limb_t ninv;  /* -N^{-1} mod 2^64 */
    mp_limb_t *R2;   /* R^2 mod N, R = 2^(64 L + kfix) */
    mp_limb_t *one;  /* R mod N: 1 in Montgomery form */
    int kfix;        /* extra bits of R beyond 64 L, so scalar and vector share one R */
    hpc_vmod *v;     /* AVX2 four-lane context (NULL: scalar only) */
    hpc_zmod *z;     /* AVX-512 IFMA eight-lane context (NULL: none); see hpc_dispatch.h */
} hpc_mod;

int hpc_mod_init(hpc_mod *m, const mp_limb_t *N, int L);
/* lanes of the product kernel batches on this modulus run now (8 IFMA, 4 AVX2, 1 scalar) */
int hpc_mod_lanes(const hpc_mod *m);
void hpc_mod_free(hpc_mod *m);

/* Single Montgomery operations (t: scratch of 2L limbs). */
void hpc_mont_mul(const hpc_mod *m, mp_limb_t *r, const mp_limb_t *a, const mp_limb_t *b,
                  mp_limb_t *t);
void hpc_mont_sqr(const hpc_mod *m, mp_limb_t *r, const mp_limb_t *a, mp_limb_t *t);

/* Batches: arrays are K consecutive L-limb numbers; inputs must be < N. */
int hpc_check_range(const hpc_mod *m, const mp_limb_t *a, size_t K, size_t *bad_index);
int hpc_mulmod(const hpc_mod *m, const mp_limb_t *a, const mp_limb_t *b, mp_limb_t *out,
               size_t K);
int hpc_to_mont(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K);
int hpc_from_mont(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K);
/* out[k] = prod_t a[k, t] for a of shape (K, T, L). */
int hpc_prod(const hpc_mod *m, const mp_limb_t *a, size_t T, mp_limb_t *out, size_t K);
/* Montgomery's trick: one modular inverse for the whole batch. */
int hpc_invert(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K);
/* out[k] = a[k]^e[k] for small non-negative exponents. */
int hpc_pow_u64(const hpc_mod *m, const mp_limb_t *a, const uint64_t *e, mp_limb_t *out,
                size_t K, uint64_t *mults);
/* out[k] = a[k]^(2^s) (s squarings), used to move packed slots up. */
int hpc_pow2k(const hpc_mod *m, const mp_limb_t *a, unsigned s, mp_limb_t *out, size_t K,
              uint64_t *mults);
/* out[k] = a[k]^e[k] for arbitrary exponents given as Ne-limb numbers. */
int hpc_powm(const hpc_mod *m, const mp_limb_t *a, const mp_limb_t *e, int Ne, mp_limb_t *out,
             size_t K);

/* Multi-exponentiation with exponents shared by every output (a kernel):
 *   out[o] = prod_t ( prod_g base[idx[o, t, g]] ) ^ e[t]
 * bases are in Montgomery form; idx < 0 means "absent".  All terms of one
 * output share their squarings (Straus).  out is normal form unless
 * out_mont is set.  *mults receives the Montgomery products performed. */
int hpc_multiexp(const hpc_mod *m, const mp_limb_t *bases_mont, const int64_t *idx,
                 size_t K_out, size_t T, size_t G, const uint64_t *e, int out_mont,
                 mp_limb_t *out, uint64_t *mults);

/* Fixed-base exponentiation table: T[i][j-1] = h^(j 2^(w i)) (Montgomery). */
typedef struct {
    int L, w, nwin;
    mp_limb_t *tab;
} hpc_fbtab;

int hpc_fb_init(hpc_fbtab *t, const hpc_mod *m, const mp_limb_t *h, int ebits, int w);
void hpc_fb_free(hpc_fbtab *t);

/* One prime's side of the key owner's state as limbs, for the constant-time path. */
typedef struct {
    int L, L2, ne, nf;   /* limbs of prime, prime^2, e, prime - 1 */
    size_t ebits, fbits; /* bit lengths of e and prime - 1 (public for a key size) */
    mp_limb_t *block;    /* one allocation holding the arrays below (wiped when freed) */
    mp_limb_t *P, *P2, *pinv, *h, *hf, *e, *f;
} hpc_half;

/* Key-owner context: everything decryption and fast encryption need.
 * ep | p - 1 is the order of the encryption randomness mod p^2 (p - 1 for
 * standard keys, a ~256-bit prime alpha_p for fast-decryption keys) and the
 * decryption exponent; hpe = L((1+n)^ep mod p^2)^-1 mod p (hp: the same for p - 1). */
typedef struct {
    int Ln, Ln2, Lp2, Lq2;
    mpz_t n, n2, p, q, p2, q2, pm1, qm1, hp, hq, qinv_p, q2inv_p2;
    mpz_t ep, eq, hpe, hqe;
    int fast; /* ep != p - 1: a result not 1 mod p means "not of that form": full exponent */
    hpc_half sp, sq;
    mp_limb_t *qinvl; /* qinv_p as Lp limbs */
    hpc_mod mp2, mq2;
    int has_tables;
    hpc_fbtab tp, tq;
} hpc_priv;

/* ap, aq (NULL for standard keys): the subgroup orders alpha_p | p - 1, alpha_q | q - 1;
 * then gp, gq must generate those subgroups mod p and q. */
int hpc_priv_init(hpc_priv *k, const mp_limb_t *p, int Lp, const mp_limb_t *q, int Lq,
                  const mp_limb_t *gp, const mp_limb_t *gq, int window, const mp_limb_t *ap,
                  int Lap, const mp_limb_t *aq, int Laq);
void hpc_priv_free(hpc_priv *k);

/* res: K residues mod n (Ln limbs) -> K ciphertexts (Ln2 limbs).  Not constant-time
 * (the comb indexes its table by secret digits): run it where the owner trusts the machine. */
int hpc_owner_encrypt(const hpc_priv *k, const mp_limb_t *res, mp_limb_t *out, size_t K);

/* Decryption flags: HPC_VARTIME selects the older variable-time path (sliding
 * windows, mpz_powm, plain division), kept only to measure what constant time costs. */
#define HPC_VARTIME 1
/* Decrypt K ciphertexts to residues mod n. *fallbacks (may be NULL) counts the
 * ciphertexts a fast-decryption key had to decrypt the full way. */
int hpc_decrypt(const hpc_priv *k, const mp_limb_t *ct, mp_limb_t *out, size_t K, int flags,
                size_t *fallbacks);
/* Decrypt groups of `group` ciphertexts packed on the fly:
 *   out[g] = sum_j m[g group + j] 2^(j shift) mod n. */
int hpc_decrypt_horner(const hpc_priv *k, const mp_limb_t *ct, size_t K, size_t group,
                       unsigned shift, mp_limb_t *out, int flags, size_t *fallbacks);

/* Public-key encryption. */
int hpc_pub_encrypt(const hpc_mod *mn2, const mp_limb_t *n, int Ln, const mp_limb_t *res,
                    mp_limb_t *out, size_t K);
/* Short-exponent variant: c = (1 + m n) hs^a, a uniform below 2^abits. */
int hpc_pub_encrypt_short(const hpc_mod *mn2, const hpc_fbtab *t, const mp_limb_t *n, int Ln,
                          int abits, const mp_limb_t *res, mp_limb_t *out, size_t K);

/* Trivial encryption 1 + m n (< n^2) of residues m < n, for adding plaintexts. */
int hpc_gm(const mp_limb_t *res, const mp_limb_t *n, int Ln, int L2, mp_limb_t *out, size_t K);

/* Encoding helpers. */
int hpc_res_from_i64(const int64_t *v, const mp_limb_t *n, int Ln, mp_limb_t *out, size_t K);
/* Centred residue -> int64; *overflow counts values that do not fit. */
int hpc_res_to_i64(const mp_limb_t *res, const mp_limb_t *n, int Ln, int64_t *out, size_t K,
                   size_t *overflow);
/* Pack P signed slots of w bits each (w <= 62), slot 0 least significant. */
int hpc_pack_i64(const int64_t *v, size_t P, unsigned w, const mp_limb_t *n, int Ln,
                 mp_limb_t *out, size_t K);
int hpc_unpack_i64(const mp_limb_t *res, const mp_limb_t *n, int Ln, size_t P, unsigned w,
                   int64_t *out, size_t K);

/* 1 when scalar Montgomery reductions run through GMP's assembly mpn_redc_1 */
int hpc_scalar_redc_asm(void);

/* Seconds per Montgomery product (the physical limit of every hot path). */
double hpc_bench_mont_mul(const hpc_mod *m, size_t iters, int square);

#endif

/* hpc_ct: side-channel-silent pieces of the key owner's paths.
 *
 * Everything here runs the same instructions and touches the same memory
 * whatever the secret values are (p, q, their powers, exponents derived from
 * them, and values reduced modulo them): fixed windows, whole-table masked
 * selection, GMP's mpn_sec_* / mpz_powm_sec, no early exits.  Only sizes
 * (limb counts, exponent bit lengths, which are public for a key of a given
 * size) decide the control flow, down to the lanes' final conversion
 * (hpc_vget / hpc_zget: an unconditional subtraction of N and a masked
 * mpn_cnd_add_n back, instead of a compare and a branch).
 */
#ifndef HPC_CT_H
#define HPC_CT_H

#include <gmp.h>
#include <stddef.h>
#include <stdint.h>

#include "hpc_vec.h"

/* Bits [bit, bit + w) of the ne-limb exponent e, bits at or above ebits
 * cleared: the window digit of a fixed-window schedule.  The limbs read depend
 * only on the (public) position, never on the exponent's value. */
static inline uint64_t hpc_ct_digit_at(const mp_limb_t *e, int ne, size_t ebits, size_t bit,
                                       int w) {
    size_t li = bit / 64, off = bit % 64;
    uint64_t d = 0;
    if (li < (size_t)ne) d = e[li] >> off;
    if (off && off + (size_t)w > 64 && li + 1 < (size_t)ne) d |= e[li + 1] << (64 - off);
    size_t keep = ebits - bit < (size_t)w ? ebits - bit : (size_t)w;
    return d & (((uint64_t)1 << keep) - 1);
}

/* Zero n bytes in a way the compiler cannot drop (explicit_bzero where the
 * C library has it, else a volatile loop). */
void hpc_wipe(void *p, size_t n);
/* Wipe an mpz's whole allocation (not just its value). */
void hpc_wipe_mpz(mpz_t x);

/* Four lanes: out[l] = a[l]^e mod N for l < lanes (1..4), a[l] < N.  e is the
 * secret exponent as ne limbs; only its first ebits bits are read and ebits
 * (public) alone fixes the schedule: fixed windows, each table entry chosen by
 * a masked pass over the whole table. */
int hpc_ct_vpowm4(const hpc_vmod *m, const mp_limb_t *const a[4], int lanes, const mp_limb_t *e,
                  int ne, size_t ebits, mp_limb_t *const out[4]);

/* Scratch for the helpers below: limbs needed for moduli up to Lmax limbs
 * (Lmax: the larger prime squared's limb count) and inputs up to Lin limbs. */
size_t hpc_ct_itch(int Lmax, int Lin);

/* dst (Ld limbs) <- src (Ls >= Ld limbs) mod d (Ld limbs, top limb nonzero). */
void hpc_ct_mod(mp_limb_t *dst, const mp_limb_t *src, int Ls, const mp_limb_t *d, int Ld,
                mp_limb_t *scratch);

/* For y = c^e mod prime^2 (Lp2 limbs) with e a multiple of the order of c mod prime
 * (so y = 1 mod prime): dst (Lp limbs) <- ((y - 1) / prime) h mod prime.
 * pinv: prime^-1 mod 2^(64 Lp) (the exact division is a product by it).
 * Returns 1 when y = 1 mod prime (the decryption is valid), 0 otherwise; the
 * test itself runs in constant time. */
int hpc_ct_lfun(mp_limb_t *dst, const mp_limb_t *y, int Lp2, const mp_limb_t *prime,
                const mp_limb_t *pinv, const mp_limb_t *h, int Lp, mp_limb_t *scratch);

/* CRT: dst (Ln limbs) <- mq + q ((mp - mq) qinv mod p), mp < p (Lp limbs), mq < q
 * (Lq <= Lp limbs). */
void hpc_ct_crt(mp_limb_t *dst, int Ln, const mp_limb_t *mp, const mp_limb_t *p, int Lp,
                const mp_limb_t *mq, const mp_limb_t *q, int Lq, const mp_limb_t *qinv,
                mp_limb_t *scratch);

#endif

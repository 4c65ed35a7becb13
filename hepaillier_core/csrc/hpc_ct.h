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

/* One lane of a radix-2^radix digit vector (digit j of the lane at src[stride * j])
 * as L limbs x, reduced once below N: the lanes' final conversion.  The value is
 * below 2N (it may carry bits beyond L limbs); N is subtracted always and added
 * back under a mask when the value was below N, so neither the comparison nor
 * the subtraction branches on the value. */
static inline void hpc_ct_lane_to_limbs(const uint64_t *src, int stride, int radix,
                                        int ndigits, mp_limb_t *x, int L,
                                        const mp_limb_t *N) {
    unsigned __int128 buf = 0;
    int have = 0, w = 0;
    mp_limb_t hi = 0; /* bits beyond L limbs */
    for (int j = 0; j < ndigits; j++) {
        buf |= (unsigned __int128)src[(size_t)stride * j] << have;
        have += radix;
        if (have >= 64) {
            if (w < L)
                x[w] = (mp_limb_t)buf;
            else
                hi |= (mp_limb_t)buf;
            w++;
            buf >>= 64;
            have -= 64;
        }
    }
    if (have > 0) {
        if (w < L)
            x[w] = (mp_limb_t)buf;
        else
            hi |= (mp_limb_t)buf;
        w++;
    }
    for (; w < L; w++) x[w] = 0;
    mp_limb_t borrow = mpn_sub_n(x, x, N, L);
    mp_limb_t has_hi = (hi | (0 - hi)) >> (GMP_NUMB_BITS - 1);
    mpn_cnd_add_n(borrow & (has_hi ^ 1), x, x, N, L);
}

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

//! Internet checksum (RFC 1071) helpers.
//!
//! Terminology: a *sum* is the folded 16-bit one's-complement sum of some
//! big-endian 16-bit words, **not** complemented. A *checksum* is the
//! complement of the sum of everything it covers (the value on the wire).
//!
//! A received header/segment is valid when the sum over it, including its
//! checksum field, is `0xffff`.

/// Fold a wide accumulator of 16/32-bit big-endian words into a 16-bit
/// one's-complement sum (end-around carry). Never returns 0 unless
/// `acc == 0`.
#[inline]
pub const fn fold(acc: u64) -> u16 {
    // 2^32 ≡ 2^16 ≡ 1 (mod 0xffff), so folding halves preserves the value
    // modulo 0xffff; four steps bring any u64 below 0x10000.
    let mut s = (acc >> 32) + (acc & 0xffff_ffff);
    s = (s >> 16) + (s & 0xffff);
    s = (s >> 16) + (s & 0xffff);
    s = (s >> 16) + (s & 0xffff);
    s as u16
}

/// Unfolded accumulation of `data` as big-endian 16-bit words (an odd final
/// byte is padded with a zero on the right, as RFC 1071 requires).
///
/// Eight bytes are consumed per iteration as two big-endian `u32`s added
/// into a `u64`; since 2^16 ≡ 1 (mod 0xffff) that is the same one's-complement
/// sum as adding the four 16-bit words. The `u64` cannot overflow for any
/// slice shorter than 16 GiB.
#[inline]
pub fn accumulate(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folded one's-complement sum of a 20-byte IPv4 header without options (not
/// complemented): five big-endian `u32` loads added straight-line, no loop, no
/// length-dependent branch. Equal to [`sum`] of the same bytes.
#[inline(always)]
pub fn sum20(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u64::from(u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    fold(w(0) + w(4) + w(8) + w(12) + w(16))
}

/// Folded one's-complement sum of `data` (not complemented).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(accumulate(data))
}

/// Internet checksum of `data`: the complement of [`sum`].
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// One's-complement addition of two folded sums.
#[inline]
pub const fn add(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// One's-complement sum of several partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    let mut acc: u64 = 0;
    for &s in sums {
        acc += u64::from(s);
    }
    fold(acc)
}

/// Sum of the IPv4 pseudo header used by TCP and UDP (RFC 793 / RFC 768):
/// source, destination, zero+protocol, and the transport length.
/// Addresses are host-order `u32`s (as returned by `src_u32()`).
#[inline]
pub const fn pseudo_header_sum(src: u32, dst: u32, proto: u8, len: u16) -> u16 {
    fold(
        (src >> 16) as u64
            + (src & 0xffff) as u64
            + (dst >> 16) as u64
            + (dst & 0xffff) as u64
            + proto as u64
            + len as u64,
    )
}

/// Incrementally update a checksum after a 16-bit word changed from `old` to
/// `new` (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`).
///
/// The 16-bit field must be aligned on an even offset of the checksummed
/// data. For a value at an odd offset pass `old.swap_bytes()` and
/// `new.swap_bytes()`.
///
/// If `old_csum` was correct and the covered data contains any non-zero word
/// (always true for real headers), the result is bit-identical to a full
/// recomputation.
#[inline]
pub const fn update_u16(old_csum: u16, old: u16, new: u16) -> u16 {
    !fold((!old_csum) as u64 + (!old) as u64 + new as u64)
}

/// Incrementally update a checksum after an aligned 32-bit field (e.g. an
/// IPv4 address) changed from `old` to `new` (RFC 1624 eqn. 3 applied to
/// both halves).
#[inline]
pub const fn update_u32(old_csum: u16, old: u32, new: u32) -> u16 {
    !fold(
        (!old_csum) as u64
            + (!(old >> 16) & 0xffff) as u64
            + (!old & 0xffff) as u64
            + (new >> 16) as u64
            + (new & 0xffff) as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed 20-byte sum agrees with the general one on headers with carries.
    #[test]
    fn sum20_matches_sum() {
        let mut h = [0u8; 20];
        for seed in 0u32..2000 {
            for (i, b) in h.iter_mut().enumerate() {
                *b = (seed.wrapping_mul(2_654_435_761).rotate_left(i as u32 * 3) >> 7) as u8;
            }
            if seed % 7 == 0 {
                h = [0xff; 20];
            }
            assert_eq!(sum20(&h), sum(&h), "{h:02x?}");
        }
        assert_eq!(sum20(&[0; 20]), 0);
    }

    /// Naive reference: 16-bit words, one at a time, with end-around carry.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]) << 8;
            let lo = if i + 1 < data.len() {
                u32::from(data[i + 1])
            } else {
                0
            };
            s += hi | lo;
            s = (s & 0xffff) + (s >> 16);
            i += 2;
        }
        s as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum of 0001 f203 f4f5 f6f7 = ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // Classic example header (Wikipedia), checksum 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(sum(&h), 0xffff);
    }

    #[test]
    fn empty_odd_and_lengths() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(
            sum(&[0xab, 0xcd, 0xef]),
            (0xabcd_u32 + 0xef00 - 0xffff) as u16
        );
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        for n in 0..data.len() {
            assert_eq!(sum(&data[..n]), naive_sum(&data[..n]), "len {n}");
            assert_eq!(sum(&data[1..n.max(1)]), naive_sum(&data[1..n.max(1)]));
        }
    }

    #[test]
    fn all_ones_does_not_overflow() {
        let data = vec![0xffu8; 70_000];
        assert_eq!(sum(&data), 0xffff);
        assert_eq!(sum(&data), naive_sum(&data));
    }

    #[test]
    fn fold_edges() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0xffff_ffff), 0xffff);
    }

    #[test]
    fn add_and_combine() {
        assert_eq!(add(0xffff, 1), 1);
        assert_eq!(add(0x8000, 0x8000), 1);
        assert_eq!(combine(&[0x1234, 0xedcb]), 0xffff);
        assert_eq!(combine(&[]), 0);
        let a = [1u8, 2, 3, 4];
        let b = [5u8, 6, 7, 8, 9, 10];
        let mut ab = a.to_vec();
        ab.extend_from_slice(&b);
        assert_eq!(combine(&[sum(&a), sum(&b)]), sum(&ab));
    }

    #[test]
    fn pseudo_header() {
        let src = u32::from_be_bytes([192, 168, 0, 1]);
        let dst = u32::from_be_bytes([10, 0, 0, 2]);
        let bytes = [192, 168, 0, 1, 10, 0, 0, 2, 0, 17, 0x01, 0x00];
        assert_eq!(pseudo_header_sum(src, dst, 17, 0x100), sum(&bytes));
    }

    #[test]
    fn incremental_matches_full() {
        let mut data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        let c0 = checksum(&data);
        // 16-bit aligned field at offset 6.
        let old = u16::from_be_bytes([data[6], data[7]]);
        data[6..8].copy_from_slice(&0xbeefu16.to_be_bytes());
        assert_eq!(update_u16(c0, old, 0xbeef), checksum(&data));
        // 32-bit field at offset 12.
        let c1 = checksum(&data);
        let old32 = u32::from_be_bytes([data[12], data[13], data[14], data[15]]);
        data[12..16].copy_from_slice(&0xdead_0001u32.to_be_bytes());
        assert_eq!(update_u32(c1, old32, 0xdead_0001), checksum(&data));
        // 16-bit field at odd offset 21 uses byte-swapped values.
        let c2 = checksum(&data);
        let old_odd = u16::from_be_bytes([data[21], data[22]]);
        data[21..23].copy_from_slice(&0x05b4u16.to_be_bytes());
        assert_eq!(
            update_u16(c2, old_odd.swap_bytes(), 0x05b4u16.swap_bytes()),
            checksum(&data)
        );
    }

    #[test]
    fn incremental_rfc1624_zero_case() {
        // RFC 1624 section 3 pitfall: eqn 2 (HC - m + m') can produce 0x0000
        // where full recomputation gives 0xffff; eqn 3 must not.
        // Data whose sum becomes 0xffff... choose words so the new checksum is 0.
        let mut data = [0x12u8, 0x34, 0xed, 0xcb, 0x00, 0x01];
        let c0 = checksum(&data);
        let old = u16::from_be_bytes([data[4], data[5]]);
        data[4] = 0;
        data[5] = 0;
        let full = checksum(&data);
        assert_eq!(full, 0x0000);
        assert_eq!(update_u16(c0, old, 0), full);
    }
}

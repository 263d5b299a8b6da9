//! IPv4 fragmentation (RFC 791 §3.2, RFC 1812 §4.2.2.7).

use crate::ipv4::{self, Ipv4Packet, FLAG_DF, FLAG_MF, MAX_HEADER_LEN};
use crate::{put16, Error};

/// Copy flag of an IPv4 option type octet: option goes into every fragment.
pub const OPT_COPY_FLAG: u8 = 0x80;
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
/// Reserved ("evil") bit of the flags word, carried over unchanged.
const FLAG_RESERVED: u16 = 0x8000;

/// Collect the options that must be copied into non-first fragments (copy
/// flag set), padded with zeros (EOL) to a multiple of 4. Returns the padded
/// length. NOPs and options without the copy flag are dropped; parsing stops
/// at EOL. `Err(BadOptions)` if an option length is < 2 or runs past the
/// header.
#[inline]
fn copied_options(
    opts: &[u8],
    out: &mut [u8; MAX_HEADER_LEN - ipv4::HEADER_LEN],
) -> Result<usize, Error> {
    let mut n = 0;
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            OPT_EOL => break,
            OPT_NOP => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1).ok_or(Error::BadOptions)?);
                if len < 2 || len > opts.len() - i {
                    return Err(Error::BadOptions);
                }
                if kind & OPT_COPY_FLAG != 0 {
                    // n + len <= i + len <= opts.len() <= 40: in bounds.
                    out[n..n + len].copy_from_slice(&opts[i..i + len]);
                    n += len;
                }
                i += len;
            }
        }
    }
    let padded = (n + 3) & !3;
    out[n..padded].fill(0);
    Ok(padded)
}

/// Split an IPv4 packet into fragments of at most `mtu` bytes each and hand
/// them to `sink(header, payload_chunk)`; returns the number of fragments.
///
/// * `packet` is validated with [`Ipv4Packet::new_checked`]; bytes past its
///   total length (link padding) are ignored.
/// * If the packet already fits (`total_len <= mtu`) it is passed through
///   unchanged as a single "fragment" (its own header and payload), DF or
///   not.
/// * Otherwise DF must be clear (`Err(DontFragment)`; the caller then sends
///   ICMP "fragmentation needed"), and `mtu` must hold the header plus 8
///   bytes (`Err(BadMtu)`).
/// * Payload chunks are multiples of 8 bytes except the last. Offsets are
///   relative to the original's own offset and MF stays set on the last
///   piece if the original had it (re-fragmenting a fragment is correct).
///   Identification, TOS, TTL, protocol, addresses are kept.
/// * The first fragment carries the full original header with all options;
///   later fragments carry only the options whose copy flag is set (RFC 791),
///   zero-padded to a 4-byte boundary. Malformed options: `Err(BadOptions)`.
/// * Every header handed to the sink has a correct total length and
///   checksum. `Err(Oversize)` if an offset would not fit in 13 bits.
/// * If the sink returns false, fragmentation stops with `Err(Aborted)`
///   (fragments already handed over are the caller's to dispose of).
///
/// Nothing is allocated: headers are built in a 60-byte stack buffer and
/// the payload chunks are sub-slices of `packet`.
pub fn fragment_ipv4(
    packet: &[u8],
    mtu: usize,
    mut sink: impl FnMut(&[u8], &[u8]) -> bool,
) -> Result<usize, Error> {
    let p = Ipv4Packet::new_checked(packet)?;
    let header = p.header();
    let payload = p.payload();
    let hl = header.len();
    if usize::from(p.total_len()) <= mtu {
        return if sink(header, payload) {
            Ok(1)
        } else {
            Err(Error::Aborted)
        };
    }
    let orig_ff = p.flags_frag();
    if orig_ff & FLAG_DF != 0 {
        return Err(Error::DontFragment);
    }
    if mtu < hl + 8 {
        return Err(Error::BadMtu);
    }
    let base_off = usize::from(p.frag_offset());
    if base_off + payload.len() > 0xffff {
        return Err(Error::Oversize);
    }

    let mut later_opts = [0u8; MAX_HEADER_LEN - ipv4::HEADER_LEN];
    let later_opts_len = copied_options(p.options(), &mut later_opts)?;
    let later_hl = ipv4::HEADER_LEN + later_opts_len; // <= hl
    let first_chunk = (mtu - hl) & !7;
    let later_chunk = (mtu - later_hl) & !7;
    let keep_ff = orig_ff & FLAG_RESERVED;
    let orig_mf = orig_ff & FLAG_MF != 0;

    let mut hdr = [0u8; MAX_HEADER_LEN];
    hdr[..hl].copy_from_slice(header);
    let mut pos = 0;
    let mut count = 0;
    while pos < payload.len() {
        let (this_hl, max_chunk) = if pos == 0 {
            (hl, first_chunk)
        } else {
            if count == 1 {
                // Switch the header buffer to the reduced header once.
                hdr[ipv4::HEADER_LEN..later_hl].copy_from_slice(&later_opts[..later_opts_len]);
                hdr[0] = 0x40 | (later_hl / 4) as u8;
            }
            (later_hl, later_chunk)
        };
        let end = payload.len().min(pos + max_chunk);
        let last = end == payload.len();
        let off = ((base_off + pos) >> 3) as u16;
        let mf = if !last || orig_mf { FLAG_MF } else { 0 };
        let h = &mut hdr[..this_hl];
        put16(h, 2, (this_hl + end - pos) as u16);
        put16(h, 6, keep_ff | mf | off);
        Ipv4Packet::new_unchecked(&mut *h).fill_checksum();
        if !sink(h, &payload[pos..end]) {
            return Err(Error::Aborted);
        }
        count += 1;
        pos = end;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum;
    use crate::ipv4::{Ipv4Repr, PROTO_UDP};

    fn packet(payload_len: usize, options: &[u8], flags_frag: u16) -> Vec<u8> {
        assert_eq!(options.len() % 4, 0);
        let hl = 20 + options.len();
        let total = hl + payload_len;
        let mut v = vec![0u8; total];
        Ipv4Repr {
            dscp_ecn: 0x28,
            total_len: total as u16,
            ident: 0x7777,
            flags_frag,
            ttl: 33,
            protocol: PROTO_UDP,
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
        }
        .emit(&mut v)
        .unwrap();
        v[20..hl].copy_from_slice(options);
        v[0] = 0x40 | (hl / 4) as u8;
        for (i, b) in v[hl..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        Ipv4Packet::new_unchecked(&mut v[..]).fill_checksum();
        v
    }

    type Frag = (Vec<u8>, Vec<u8>);

    fn collect(pkt: &[u8], mtu: usize) -> Result<Vec<Frag>, Error> {
        let mut out = Vec::new();
        let n = fragment_ipv4(pkt, mtu, |h, p| {
            out.push((h.to_vec(), p.to_vec()));
            true
        })?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    fn check_frags(orig: &[u8], frags: &[Frag], mtu: usize) -> Vec<u8> {
        let o = Ipv4Packet::new_checked(orig).unwrap();
        let mut data = Vec::new();
        for (i, (h, p)) in frags.iter().enumerate() {
            let mut whole = h.clone();
            whole.extend_from_slice(p);
            assert!(whole.len() <= mtu);
            let f = Ipv4Packet::new_checked(&whole[..]).unwrap();
            assert!(f.verify_checksum());
            assert_eq!(f.total_len() as usize, whole.len());
            assert_eq!(f.ident(), o.ident());
            assert_eq!(f.src(), o.src());
            assert_eq!(f.dst(), o.dst());
            assert_eq!(f.protocol(), o.protocol());
            assert_eq!(f.ttl(), o.ttl());
            assert_eq!(f.dscp_ecn(), o.dscp_ecn());
            assert!(!f.dont_frag());
            assert_eq!(
                f.frag_offset() as usize,
                o.frag_offset() as usize + data.len()
            );
            let last = i + 1 == frags.len();
            assert_eq!(f.more_frags(), !last || o.more_frags());
            if !last {
                assert_eq!(p.len() % 8, 0);
            }
            if i == 0 {
                assert_eq!(f.options(), o.options());
            }
            assert_eq!(checksum::sum(h), 0xffff);
            data.extend_from_slice(p);
        }
        assert_eq!(data, o.payload());
        data
    }

    #[test]
    fn fits_passes_through() {
        let pkt = packet(100, &[], FLAG_DF);
        let frags = collect(&pkt, 120).unwrap();
        assert_eq!(frags.len(), 1);
        assert_eq!(frags[0].0, &pkt[..20]);
        assert_eq!(frags[0].1, &pkt[20..]);
        // Ethernet padding is not part of the payload.
        let mut padded = packet(10, &[], 0);
        padded.extend_from_slice(&[0xee; 16]);
        let frags = collect(&padded, 1500).unwrap();
        assert_eq!(frags[0].1.len(), 10);
    }

    #[test]
    fn basic_split() {
        let pkt = packet(1000, &[], 0);
        let frags = collect(&pkt, 276).unwrap();
        // 256 bytes per fragment: 256*3 + 232
        assert_eq!(
            frags.iter().map(|f| f.1.len()).collect::<Vec<_>>(),
            [256, 256, 256, 232]
        );
        check_frags(&pkt, &frags, 276);
        // Unaligned MTU rounds chunks down to 8.
        let frags = collect(&pkt, 283).unwrap();
        assert_eq!(frags[0].1.len(), 256);
        check_frags(&pkt, &frags, 283);
        // Minimal MTU: 8 bytes per fragment.
        let frags = collect(&pkt, 28).unwrap();
        assert_eq!(frags.len(), 125);
        check_frags(&pkt, &frags, 28);
        // Exactly one byte too big: two fragments.
        let frags = collect(&pkt, 1019).unwrap();
        assert_eq!(frags.len(), 2);
        check_frags(&pkt, &frags, 1019);
    }

    #[test]
    fn refragment_a_fragment() {
        // Middle fragment: offset 1480, MF set.
        let pkt = packet(800, &[], FLAG_MF | (1480 / 8));
        let frags = collect(&pkt, 300).unwrap();
        check_frags(&pkt, &frags, 300);
        assert!(frags
            .iter()
            .all(|(h, _)| Ipv4Packet::new_unchecked(&h[..]).more_frags()));
        assert_eq!(
            Ipv4Packet::new_unchecked(&frags[0].0[..]).frag_offset(),
            1480
        );
        // Last fragment: offset set, MF clear -> only our last piece has MF clear.
        let pkt = packet(800, &[], 2000 / 8);
        let frags = collect(&pkt, 300).unwrap();
        check_frags(&pkt, &frags, 300);
        assert!(!Ipv4Packet::new_unchecked(&frags.last().unwrap().0[..]).more_frags());
    }

    #[test]
    fn options_copy_flag() {
        // Record route (7, not copied), NOP, security-like option 0x82 len 4
        // (copied), loose source route 0x83 len 7 (copied), EOL.
        let opts = [
            7, 7, 4, 0, 0, 0, 0, // RR (not copied)
            1, // NOP
            0x82, 4, 0xaa, 0xbb, // copied
            0x83, 7, 4, 1, 2, 3, 4, // copied
            0, // EOL
        ];
        let pkt = packet(200, &opts, 0);
        let frags = collect(&pkt, 100).unwrap();
        check_frags(&pkt, &frags, 100);
        assert_eq!(frags[0].0.len(), 40);
        for (h, _) in &frags[1..] {
            let f = Ipv4Packet::new_unchecked(&h[..]);
            assert_eq!(f.header_len(), 32);
            assert_eq!(
                f.options(),
                &[0x82, 4, 0xaa, 0xbb, 0x83, 7, 4, 1, 2, 3, 4, 0]
            );
        }
        // Only non-copied options: later fragments have a bare 20-byte header
        // and therefore larger chunks.
        let pkt = packet(200, &[7, 3, 4, 0], 0);
        let frags = collect(&pkt, 60).unwrap();
        check_frags(&pkt, &frags, 60);
        assert_eq!(frags[0].1.len(), 32);
        assert_eq!(frags[1].0.len(), 20);
        assert_eq!(frags[1].1.len(), 40);
    }

    #[test]
    fn errors() {
        let mut out = 0;
        let mut count = |_: &[u8], _: &[u8]| {
            out += 1;
            true
        };
        assert_eq!(fragment_ipv4(&[], 1500, &mut count), Err(Error::Truncated));
        let df = packet(100, &[], FLAG_DF);
        assert_eq!(
            fragment_ipv4(&df, 100, &mut count),
            Err(Error::DontFragment)
        );
        let pkt = packet(100, &[], 0);
        assert_eq!(fragment_ipv4(&pkt, 27, &mut count), Err(Error::BadMtu));
        assert_eq!(fragment_ipv4(&pkt, 0, &mut count), Err(Error::BadMtu));
        let with_opts = packet(100, &[0x94, 4, 0, 0], 0);
        assert_eq!(
            fragment_ipv4(&with_opts, 31, &mut count),
            Err(Error::BadMtu)
        );
        for bad in [
            [0x83, 1, 0, 0],
            [0x83, 5, 0, 0],
            [0x44, 0, 0, 0],
            [1, 1, 1, 0x83],
        ] {
            let p = packet(100, &bad, 0);
            assert_eq!(
                fragment_ipv4(&p, 60, &mut count),
                Err(Error::BadOptions),
                "{bad:?}"
            );
        }
        let far = packet(100, &[], 0x1fff);
        assert_eq!(fragment_ipv4(&far, 60, &mut count), Err(Error::Oversize));
        assert_eq!(out, 0);
        // Sink abort.
        let mut seen = 0;
        let r = fragment_ipv4(&pkt, 60, |_, _| {
            seen += 1;
            seen < 2
        });
        assert_eq!((r, seen), (Err(Error::Aborted), 2));
        assert_eq!(fragment_ipv4(&pkt, 1500, |_, _| false), Err(Error::Aborted));
    }
}

//! Timestamp replay protection (RFC 5944 §5.7, PROTOCOL.md §1).

use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Default replay window: the request's time may differ from the MSM's
/// clock by at most this many seconds, either way.
pub const DEFAULT_REPLAY_WINDOW_S: u32 = 7;

/// Why [`check_replay`] rejected an Identification (Reply code 133).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ReplayError {
    /// The timestamp is more than the window away from the MSM's clock.
    #[error("identification timestamp outside the replay window")]
    OutOfWindow,
    /// The Identification is not greater than the last accepted one.
    #[error("identification not greater than the last accepted one")]
    NotIncreasing,
}

impl ReplayError {
    /// The Reply code: always 133.
    #[inline]
    pub const fn code(&self) -> crate::Code {
        crate::Code::IdentificationMismatch
    }
}

/// Seconds since 1900-01-01 UTC, modulo 2^32 (the 32-bit NTP seconds
/// field; era 0 ends in February 2036, after which it wraps as NTP does).
/// Times before the Unix epoch count back from 2_208_988_800 (floored).
pub fn ntp_seconds(t: SystemTime) -> u32 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => NTP_UNIX_OFFSET.wrapping_add(d.as_secs()) as u32,
        Err(e) => {
            let d = e.duration();
            let back = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            NTP_UNIX_OFFSET.wrapping_sub(back) as u32
        }
    }
}

/// An Identification: NTP seconds in the high 32 bits, `low` (the mobile's
/// counter or random bits) in the low 32.
#[inline]
pub const fn make_identification(ntp_secs: u32, low: u32) -> u64 {
    ((ntp_secs as u64) << 32) | low as u64
}

/// Check a request's Identification against the MSM's clock `now_ntp`
/// (from [`ntp_seconds`]) and the last Identification accepted for the
/// subscriber:
///
/// * its high 32 bits must be within `window_s` seconds of `now_ntp`,
///   inclusive, either way; the difference is taken modulo 2^32 so the
///   check keeps working across the 2036 NTP era rollover;
/// * it must be greater than `last_accepted` (`None`: nothing accepted
///   yet). "Greater" is RFC 1982 serial-number order on 64 bits, which is
///   plain `>` whenever the two timestamps are less than 68 years apart
///   (always, for identifications that passed the window) and stays
///   correct across the era rollover.
///
/// The window is checked first, so a replay of an old request reports
/// `OutOfWindow`.
pub fn check_replay(
    ident: u64,
    now_ntp: u32,
    window_s: u32,
    last_accepted: Option<u64>,
) -> Result<(), ReplayError> {
    let ts = (ident >> 32) as u32;
    if (ts.wrapping_sub(now_ntp) as i32).unsigned_abs() > window_s {
        return Err(ReplayError::OutOfWindow);
    }
    if let Some(last) = last_accepted {
        if (ident.wrapping_sub(last) as i64) <= 0 {
            return Err(ReplayError::NotIncreasing);
        }
    }
    Ok(())
}

/// The Reply's Identification: the request's, except that a 133 reply puts
/// the MSM's own time `now_ntp` in the high 32 bits so the mobile can
/// resynchronise. The low 32 bits always copy the request's.
#[inline]
pub const fn reply_identification(req_ident: u64, code_is_133: bool, now_ntp: u32) -> u64 {
    if code_is_133 {
        make_identification(now_ntp, req_ident as u32)
    } else {
        req_ident
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: u32 = 3_950_000_000; // 2025-03-03

    #[test]
    fn ntp_seconds_epochs() {
        assert_eq!(ntp_seconds(UNIX_EPOCH), 2_208_988_800);
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
        assert_eq!(ntp_seconds(t), 3_908_988_800);
        // 1900-01-01T00:00:00Z is NTP 0.
        assert_eq!(
            ntp_seconds(UNIX_EPOCH - Duration::from_secs(2_208_988_800)),
            0
        );
        // Half a second before the Unix epoch floors to the second before.
        assert_eq!(
            ntp_seconds(UNIX_EPOCH - Duration::from_millis(500)),
            2_208_988_799
        );
        // Era 0 ends at 2036-02-07T06:28:16Z = Unix 2_085_978_496.
        let end = UNIX_EPOCH + Duration::from_secs(2_085_978_496);
        assert_eq!(ntp_seconds(end - Duration::from_secs(1)), u32::MAX);
        assert_eq!(ntp_seconds(end), 0);
        // The real clock is in era 0 and after 2024.
        assert!(ntp_seconds(SystemTime::now()) > 3_913_056_000);
    }

    #[test]
    fn identification_layout() {
        assert_eq!(
            make_identification(0x0102_0304, 0x0a0b_0c0d),
            0x0102_0304_0a0b_0c0d
        );
        assert_eq!(make_identification(u32::MAX, 0), 0xffff_ffff_0000_0000);
        assert_eq!(make_identification(0, u32::MAX), 0x0000_0000_ffff_ffff);
    }

    #[test]
    fn window_both_sides_inclusive() {
        for d in -7i64..=7 {
            let ts = (i64::from(NOW) + d) as u32;
            assert_eq!(
                check_replay(make_identification(ts, 1), NOW, 7, None),
                Ok(()),
                "{d}"
            );
        }
        for d in [-8i64, 8, -3600, 3600, -(1 << 31), (1 << 31) - 1] {
            let ts = (i64::from(NOW) + d) as u32;
            assert_eq!(
                check_replay(make_identification(ts, 1), NOW, 7, None),
                Err(ReplayError::OutOfWindow),
                "{d}"
            );
        }
        // Window 0: exactly now only.
        assert_eq!(
            check_replay(make_identification(NOW, 0), NOW, 0, None),
            Ok(())
        );
        assert_eq!(
            check_replay(make_identification(NOW + 1, 0), NOW, 0, None),
            Err(ReplayError::OutOfWindow)
        );
        // Across the era rollover: now = 2 s into era 1.
        assert_eq!(
            check_replay(make_identification(u32::MAX - 3, 0), 2, 7, None),
            Ok(())
        );
        assert_eq!(
            check_replay(make_identification(u32::MAX - 5, 0), 2, 7, None),
            Err(ReplayError::OutOfWindow)
        );
    }

    #[test]
    fn must_increase() {
        let last = make_identification(NOW - 1, 500);
        let ok = |id| check_replay(id, NOW, 7, Some(last));
        assert_eq!(ok(last), Err(ReplayError::NotIncreasing));
        assert_eq!(ok(last - 1), Err(ReplayError::NotIncreasing));
        assert_eq!(
            ok(make_identification(NOW - 1, 0)),
            Err(ReplayError::NotIncreasing)
        );
        assert_eq!(
            ok(make_identification(NOW - 2, u32::MAX)),
            Err(ReplayError::NotIncreasing)
        );
        assert_eq!(ok(last + 1), Ok(()));
        assert_eq!(ok(make_identification(NOW, 0)), Ok(()));
        assert_eq!(ok(make_identification(NOW + 7, 0)), Ok(()));
        // Same second, counter grows.
        assert_eq!(ok(make_identification(NOW - 1, 501)), Ok(()));
        // The window wins over ordering for old requests.
        assert_eq!(
            check_replay(make_identification(NOW - 100, 0), NOW, 7, Some(last)),
            Err(ReplayError::OutOfWindow)
        );
        // Across the era rollover the new identification is numerically
        // smaller but later.
        let last = make_identification(u32::MAX - 1, 7);
        assert_eq!(
            check_replay(make_identification(1, 0), 2, 7, Some(last)),
            Ok(())
        );
        assert_eq!(
            check_replay(make_identification(u32::MAX - 2, 7), 2, 7, Some(last)),
            Err(ReplayError::NotIncreasing)
        );
        assert_eq!(ReplayError::OutOfWindow.code().as_u8(), 133);
        assert_eq!(ReplayError::NotIncreasing.code().as_u8(), 133);
    }

    #[test]
    fn reply_ident() {
        let req = make_identification(NOW - 1000, 0xdead_beef);
        assert_eq!(reply_identification(req, false, NOW), req);
        let r = reply_identification(req, true, NOW);
        assert_eq!(r, make_identification(NOW, 0xdead_beef));
        assert_eq!(r >> 32, u64::from(NOW));
        assert_eq!(r as u32, req as u32);
    }
}

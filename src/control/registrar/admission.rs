//! Admission limits: a token bucket per subscriber and one for all requests.

/// Token bucket in milliseconds with one second of burst.
#[derive(Debug)]
pub(super) struct Bucket {
    per_sec: u64,
    tokens_milli: u64,
    last_ms: u64,
}

impl Bucket {
    pub(super) fn new(per_sec: u32) -> Bucket {
        Bucket {
            per_sec: per_sec as u64,
            tokens_milli: per_sec as u64 * 1000,
            last_ms: 0,
        }
    }
    pub(super) fn take(&mut self, now_ms: u64) -> bool {
        let cap = self.per_sec * 1000;
        let dt = now_ms.saturating_sub(self.last_ms);
        self.last_ms = now_ms;
        self.tokens_milli = self
            .tokens_milli
            .saturating_add(dt.saturating_mul(self.per_sec))
            .min(cap);
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            true
        } else {
            false
        }
    }
}

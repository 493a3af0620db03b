//! Request budgets for the compatibility APIs: a fixed one-minute window per client (a token,
//! or the address of a client that sends none), as alerts.in.ua limits its tokens.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Limiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// Past this many tracked clients the stale windows are dropped, so that a scan from many
/// addresses cannot grow the table without bound.
const MAX_TRACKED: usize = 10_000;

impl Limiter {
    /// `per_minute` of 0 means no limit.
    pub fn new(per_minute: u32) -> Limiter {
        Limiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `client` at `now_secs`; `Err` carries the seconds to wait.
    pub fn check(&self, client: &str, now_secs: i64) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let minute = now_secs.div_euclid(60);
        let mut windows = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        if windows.len() >= MAX_TRACKED && !windows.contains_key(client) {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(client.to_string()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= self.per_minute {
            return Err((60 - now_secs.rem_euclid(60)).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_budget_per_minute_and_no_more() {
        let l = Limiter::new(2);
        assert!(l.check("a", 120).is_ok());
        assert!(l.check("a", 121).is_ok());
        assert_eq!(l.check("a", 150), Err(30));
        assert!(l.check("b", 150).is_ok(), "budgets are per client");
        assert!(
            l.check("a", 180).is_ok(),
            "a new minute starts a new budget"
        );
        assert!(Limiter::new(0).check("a", 0).is_ok());
    }
}

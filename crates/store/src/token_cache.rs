//! Tokens recently proven valid, so that an issuer's every command does not cost a database
//! read. Only valid tokens are kept (garbage secrets cannot fill it), each for at most a
//! second, and a revocation through this store empties it at once. A revocation by another
//! process sharing the file (`tryvoga token revoke --db`) takes effect within that second,
//! which is why that command waits a second before it reports the token revoked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::tokens::TokenInfo;

/// How long a proven token is trusted without asking the database again.
pub const TOKEN_TRUST: Duration = Duration::from_secs(1);
/// More live tokens than this at once and the cache starts over rather than grow.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(crate) struct TokenCache {
    /// Bumped by every revocation: a lookup that began before one may not fill the cache.
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (Instant, TokenInfo)>>,
}

impl TokenCache {
    /// The token with this secret hash, if it was proven within the last second.
    pub(crate) fn get(&self, hash: &str) -> Option<TokenInfo> {
        let entries = self.entries.lock().ok()?;
        let (at, info) = entries.get(hash)?;
        (at.elapsed() < TOKEN_TRUST).then(|| info.clone())
    }

    /// Taken before a database lookup and handed back to [`TokenCache::insert`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a token the database proved at `read_at` (taken before the read, so that it
    /// is trusted no longer than a second after the database said so), unless a revocation
    /// happened since the lookup began (`seen` is the generation taken before it).
    pub(crate) fn insert(&self, hash: String, info: TokenInfo, seen: u64, read_at: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        // Checked under the lock that `revoked` also takes, so no stale entry survives it.
        if self.generation.load(Ordering::Acquire) != seen || info.revoked_at.is_some() {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(hash, (read_at, info));
    }

    /// Forgets every token: called by the writer once a revocation is committed, before it
    /// answers (and whether or not anyone still waits for the answer).
    pub(crate) fn revoked(&self) {
        let mut entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tryvoga_core::Role;

    fn info() -> TokenInfo {
        TokenInfo {
            id: 1,
            name: "kyiv".into(),
            role: Role::Issuer,
            regions: Vec::new(),
            created_at: chrono::Utc::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn a_lookup_that_began_before_a_revocation_is_not_remembered() {
        let cache = TokenCache::default();
        let seen = cache.generation();
        cache.revoked();
        cache.insert("h".into(), info(), seen, Instant::now());
        assert!(cache.get("h").is_none());
        cache.insert("h".into(), info(), cache.generation(), Instant::now());
        assert_eq!(cache.get("h").map(|i| i.name), Some("kyiv".into()));
        cache.revoked();
        assert!(cache.get("h").is_none(), "a revocation forgets every token");
    }

    #[test]
    fn revoked_tokens_are_never_remembered() {
        let cache = TokenCache::default();
        let mut revoked = info();
        revoked.revoked_at = Some(chrono::Utc::now());
        cache.insert("h".into(), revoked, cache.generation(), Instant::now());
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn trust_runs_from_the_database_read_not_from_the_insert() {
        let cache = TokenCache::default();
        let long_ago = Instant::now()
            .checked_sub(TOKEN_TRUST)
            .expect("the clock has run for a second");
        cache.insert("h".into(), info(), cache.generation(), long_ago);
        assert!(
            cache.get("h").is_none(),
            "read a second ago: no longer trusted"
        );
    }
}

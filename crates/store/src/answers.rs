//! Answers that depend on nothing but the state (the active alerts, the IoT strings): built
//! once per state and then served as the same shared bytes to every request until the next
//! commit replaces the state. Keyed by the state itself (the cache holds that `Arc`, so
//! pointer equality cannot be fooled by a reused address) and a short text naming the answer.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use tryvoga_core::State;

/// At most this many answers per state (a few query variants each).
const MAX_ENTRIES: usize = 64;

#[derive(Default)]
pub struct AnswerCache {
    slot: RwLock<Slot>,
}

#[derive(Default)]
struct Slot {
    state: Option<Arc<State>>,
    entries: Vec<(String, Bytes)>,
}

impl Slot {
    fn holds(&self, state: &Arc<State>) -> bool {
        self.state.as_ref().is_some_and(|s| Arc::ptr_eq(s, state))
    }
}

impl AnswerCache {
    /// The answer named `key` for `state`: from the cache, or built and kept.
    pub fn get_or_build<E>(
        &self,
        state: &Arc<State>,
        key: &str,
        build: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        if let Ok(slot) = self.slot.read()
            && slot.holds(state)
            && let Some((_, bytes)) = slot.entries.iter().find(|(k, _)| k == key)
        {
            return Ok(bytes.clone());
        }
        let bytes = build()?;
        if let Ok(mut slot) = self.slot.write() {
            if !slot.holds(state) {
                // A request holding an older state must not evict a newer one.
                if slot
                    .state
                    .as_ref()
                    .is_some_and(|s| s.last_seq() > state.last_seq())
                {
                    return Ok(bytes);
                }
                slot.state = Some(Arc::clone(state));
                slot.entries.clear();
            }
            if slot.entries.len() < MAX_ENTRIES && !slot.entries.iter().any(|(k, _)| k == key) {
                slot.entries.push((key.to_string(), bytes.clone()));
            }
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_built_once_per_state_and_a_new_state_rebuilds_it() {
        let cache = AnswerCache::default();
        let s1 = Arc::new(State::default());
        let mut builds = 0;
        for _ in 0..3 {
            let b = cache
                .get_or_build::<()>(&s1, "k", || {
                    builds += 1;
                    Ok(Bytes::from_static(b"one"))
                })
                .unwrap();
            assert_eq!(&b[..], b"one");
        }
        assert_eq!(builds, 1);
        // An equal but distinct state (a commit without events) is a new state.
        let s2 = Arc::new(State::default());
        let b = cache
            .get_or_build::<()>(&s2, "k", || Ok(Bytes::from_static(b"two")))
            .unwrap();
        assert_eq!(&b[..], b"two");
        let b = cache
            .get_or_build::<()>(&s2, "other", || Ok(Bytes::from_static(b"three")))
            .unwrap();
        assert_eq!(&b[..], b"three");
        assert_eq!(
            &cache.get_or_build::<()>(&s2, "k", || Err(())).unwrap()[..],
            b"two"
        );
    }
}

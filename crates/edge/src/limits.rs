//! How many connections one client address may hold open. Descriptors are the server's
//! scarcest resource (a process here may hold about 20,000), and a single address that opens
//! connections and never finishes them (a stalled body, a head sent a byte a minute) would
//! otherwise take them all and leave nobody else answered. The front door asks for a slot as
//! it accepts a connection and refuses one over the limit at once, before reading anything;
//! the slot lives as long as the connection does, including a stream subscriber moved to a
//! fan-out thread.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Open connections per client address, against a limit the operator sets (0: none).
#[derive(Debug, Default)]
pub struct ConnLimit {
    max: AtomicUsize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One admitted connection; dropping it gives the slot back.
#[derive(Debug)]
pub struct ConnSlot {
    addr: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnLimit {
    /// Sets the limit per address; 0 lifts it. Connections already open keep their slots.
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// A slot for a new connection from `addr`, or `None` when that address already holds
    /// the limit. IPv4 peers reaching an IPv6 socket count as their IPv4 address.
    pub fn admit(&self, addr: IpAddr) -> Option<ConnSlot> {
        let addr = addr.to_canonical();
        let max = self.max();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let held = open.entry(addr).or_insert(0);
        if max != 0 && *held >= max {
            return None;
        }
        *held += 1;
        Some(ConnSlot {
            addr,
            open: Arc::clone(&self.open),
        })
    }

    /// Connections open from `addr` now.
    pub fn open_from(&self, addr: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&addr.to_canonical()).copied().unwrap_or(0)
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = open.get_mut(&self.addr) {
            *held -= 1;
            if *held == 0 {
                // An address that has gone leaves nothing behind.
                open.remove(&self.addr);
            }
        }
    }
}

/// The answer to a connection over its address's limit: written without reading the request,
/// then the connection is closed.
pub const REFUSAL: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
content-type: application/json\r\n\
retry-after: 5\r\n\
connection: close\r\n\
content-length: 94\r\n\r\n\
{\"error\":{\"code\":\"too_many_connections\",\"message\":\"this address holds too many connections\"}}\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_limit_and_slots_come_back_when_dropped() {
        let limit = ConnLimit::default();
        limit.set_max(2);
        let a: IpAddr = "192.0.2.1".parse().expect("addr");
        let b: IpAddr = "::ffff:192.0.2.2".parse().expect("addr");
        let first = limit.admit(a).expect("first");
        let _second = limit.admit(a).expect("second");
        assert!(limit.admit(a).is_none(), "the third is refused");
        assert!(limit.admit(b).is_some(), "another address is not");
        drop(first);
        assert_eq!(limit.open_from(a), 1);
        assert!(limit.admit(a).is_some(), "a slot came back");
        limit.set_max(0);
        let many: Vec<_> = (0..100).filter_map(|_| limit.admit(a)).collect();
        assert_eq!(many.len(), 100, "0 lifts the limit");
    }

    #[test]
    fn the_refusal_is_a_complete_http_answer() {
        let text = std::str::from_utf8(REFUSAL).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("a length");
        assert_eq!(body.len(), length);
        let parsed: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(parsed["error"]["code"], "too_many_connections");
    }
}

//! The few protocol pieces a subscriber needs, written by hand so that every peer is measured
//! with the same client: HTTP/1.1 requests, WebSocket upgrade and client frames, NATS and MQTT
//! subscription, and the scanner that finds time-stamped markers in whatever bytes arrive.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the epoch: publisher and subscribers share the machine's clock.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Every published message carries `t=` and 19 digits: its send time in nanoseconds.
pub const MARKER: &[u8] = b"t=";
const DIGITS: usize = 19;

pub fn marker(t_ns: u64) -> String {
    format!("t={t_ns:019}")
}

/// A marker, its digits and the byte after them (which must not be a digit).
const SPAN: usize = MARKER.len() + DIGITS + 1;

/// Finds complete markers in a byte stream that arrives in arbitrary pieces. Only the last few
/// bytes of a piece are kept (a marker cut in two), so a reader can feed large reads without
/// copying them.
#[derive(Default)]
pub struct Scanner {
    carry: Vec<u8>,
}

impl Scanner {
    /// Feeds bytes; calls `found` with each marker's time stamp.
    pub fn feed(&mut self, bytes: &[u8], mut found: impl FnMut(u64)) {
        if self.carry.is_empty() {
            self.carry = scan(bytes, |_, t| found(t)).to_vec();
            return;
        }
        if bytes.len() < SPAN {
            // A small piece: scan it together with what was kept.
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(bytes);
            self.carry = scan(&joined, |_, t| found(t)).to_vec();
            return;
        }
        // A marker that starts in the kept bytes ends within the first SPAN - 1 new bytes; one
        // that starts in the new bytes is found by scanning them alone.
        let carried = self.carry.len();
        let mut joint = std::mem::take(&mut self.carry);
        joint.extend_from_slice(&bytes[..SPAN - 1]);
        let _ = scan(&joint, |start, t| {
            if start < carried {
                found(t)
            }
        });
        self.carry = scan(bytes, |_, t| found(t)).to_vec();
    }
}

/// Calls `found` with the start and time stamp of every complete marker in `data`, and
/// returns the tail that may hold the beginning of a marker completed by what comes next.
fn scan(data: &[u8], mut found: impl FnMut(usize, u64)) -> &[u8] {
    let mut keep_from = data.len().saturating_sub(SPAN - 1);
    for pos in memchr::memmem::find_iter(data, MARKER) {
        let start = pos + MARKER.len();
        let end = start + DIGITS;
        if end > data.len() {
            // Not complete yet.
            keep_from = keep_from.min(pos);
            break;
        }
        let digits = &data[start..end];
        if digits.iter().all(u8::is_ascii_digit)
            && data.get(end).is_none_or(|b| !b.is_ascii_digit())
        {
            let t = digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            found(pos, t);
            keep_from = keep_from.max(end);
        }
    }
    &data[keep_from.min(data.len())..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

pub fn http_get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}

pub fn ws_upgrade(path: &str, protocol: Option<&str>) -> String {
    let proto = protocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    http_get(
        path,
        &format!(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{proto}"
        ),
    )
}

/// A masked client frame (clients must mask; the key's value does not matter for a benchmark).
pub fn ws_client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn mqtt_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn mqtt_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            break;
        }
    }
}

/// MQTT 3.1.1 CONNECT with a clean session and no keep-alive pings.
pub fn mqtt_connect(client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    mqtt_string(&mut body, "MQTT");
    body.extend_from_slice(&[4, 0x02, 0, 0]);
    mqtt_string(&mut body, client_id);
    let mut p = vec![0x10];
    mqtt_length(&mut p, body.len());
    p.extend(body);
    p
}

pub fn mqtt_subscribe(topic: &str) -> Vec<u8> {
    let mut body = vec![0, 1];
    mqtt_string(&mut body, topic);
    body.push(0);
    let mut p = vec![0x82];
    mqtt_length(&mut p, body.len());
    p.extend(body);
    p
}

pub const MQTT_SUBACK: &[u8] = &[0x90, 0x03, 0x00, 0x01];

pub fn mqtt_publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    mqtt_string(&mut body, topic);
    body.extend_from_slice(payload);
    let mut p = vec![0x30];
    mqtt_length(&mut p, body.len());
    p.extend(body);
    p
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_finds_markers_split_across_reads() {
        let t = 1_790_000_000_123_456_789u64;
        let text = format!(
            "data: {{\"note\":\"{}\"}}\n\nxx{}yy",
            marker(t),
            marker(t + 1)
        );
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            let mut s = Scanner::default();
            let mut got = Vec::new();
            s.feed(&bytes[..cut], |t| got.push(t));
            s.feed(&bytes[cut..], |t| got.push(t));
            assert_eq!(got, vec![t, t + 1], "cut at {cut}");
        }
    }

    #[test]
    fn scanner_finds_every_marker_whatever_the_pieces() {
        let t = 1_790_000_000_000_000_000u64;
        let text: String = (0..40)
            .map(|i| format!("id: {i}\ndata: {{\"note\":\"{}\"}}\n\n", marker(t + i)))
            .collect();
        let bytes = text.as_bytes();
        for first in [1, 7, 20, 21, 22, 23, 60, 500] {
            for second in [1, 3, 21, 22, 40, 333] {
                let mut s = Scanner::default();
                let mut got = Vec::new();
                let mut at = 0;
                let mut sizes = [first, second].into_iter().cycle();
                while at < bytes.len() {
                    let end = (at + sizes.next().unwrap_or(1)).min(bytes.len());
                    s.feed(&bytes[at..end], |t| got.push(t));
                    at = end;
                }
                assert_eq!(got, (t..t + 40).collect::<Vec<_>>(), "{first}/{second}");
            }
        }
    }

    #[test]
    fn short_digit_runs_are_not_markers() {
        let mut s = Scanner::default();
        let mut got = Vec::new();
        s.feed(b"at=12345 t=123\n", |t| got.push(t));
        s.feed(b"", |t| got.push(t));
        assert!(got.is_empty());
    }
}

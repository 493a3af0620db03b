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

/// Finds complete markers in a byte stream that arrives in arbitrary pieces.
#[derive(Default)]
pub struct Scanner {
    carry: Vec<u8>,
}

impl Scanner {
    /// Feeds bytes; calls `found` with each marker's time stamp.
    pub fn feed(&mut self, bytes: &[u8], mut found: impl FnMut(u64)) {
        let owned;
        let data: &[u8] = if self.carry.is_empty() {
            bytes
        } else {
            self.carry.extend_from_slice(bytes);
            owned = std::mem::take(&mut self.carry);
            &owned
        };
        let mut i = 0;
        let mut keep_from = data.len().saturating_sub(MARKER.len() + DIGITS);
        while let Some(pos) = find(&data[i..], MARKER) {
            let start = i + pos + MARKER.len();
            let end = start + DIGITS;
            if end > data.len() {
                keep_from = keep_from.min(i + pos);
                break;
            }
            let digits = &data[start..end];
            if digits.iter().all(u8::is_ascii_digit)
                && data.get(end).is_none_or(|b| !b.is_ascii_digit())
            {
                let t = digits
                    .iter()
                    .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                found(t);
                keep_from = keep_from.max(end);
            }
            i = i + pos + 1;
        }
        self.carry = data[keep_from.min(data.len())..].to_vec();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
    fn short_digit_runs_are_not_markers() {
        let mut s = Scanner::default();
        let mut got = Vec::new();
        s.feed(b"at=12345 t=123\n", |t| got.push(t));
        s.feed(b"", |t| got.push(t));
        assert!(got.is_empty());
    }
}

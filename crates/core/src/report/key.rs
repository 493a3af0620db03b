//! Content keys: what makes the same text, read and posted twice (by any token, through the
//! server or offline), one record. The core derives the key as it decides the command, and the
//! recorded report or threat carries it as its `id`.
//!
//! The key is derived from the source text, not from the figures: a reader that learns to read
//! a sentence better must not turn an old text into a second report.

use sha2::{Digest, Sha256};

use super::{AttackReport, Threat};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(kind: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    for p in parts {
        // A separator that cannot occur inside the parts keeps ("ab","c") apart from ("a","bc").
        h.update([0u8]);
        h.update(p.trim().as_bytes());
    }
    hex(&h.finalize())
}

/// `report.attack` and the evidence sentences, hashed (SHA-256, lower-case hex).
pub fn report_key(report: &AttackReport) -> String {
    let texts: Vec<&str> = report.evidence.iter().map(|e| e.text.as_str()).collect();
    key("report.attack", &texts)
}

/// `threat.reported`, the notice's text and its time, hashed: the channel repeats the same
/// words ("Загроза ударних БпЛА") night after night, and each is a notice of its own.
pub fn threat_key(threat: &Threat) -> String {
    let at = threat.at.map(|t| t.to_rfc3339()).unwrap_or_default();
    key("threat.reported", &[&threat.text, &at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples::*;

    #[test]
    fn the_key_follows_the_text_not_the_figures() {
        let a = drone_report();
        let mut b = drone_report();
        b.weapons[0].destroyed = Some(30);
        assert_eq!(report_key(&a), report_key(&b));
        assert_eq!(report_key(&a).len(), 64);
        let mut c = drone_report();
        c.evidence[0].text = "Russia launched 41 drones overnight.".into();
        assert_ne!(report_key(&a), report_key(&c));
    }
}

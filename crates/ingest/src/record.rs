//! Reports and threats on their way into the record: the checks a posted one must pass (so that
//! a client sending a report by hand gets the same rules as the readers' output), and the
//! content key that makes the same text, read and posted twice, one record.
//!
//! The key is derived from the source text, not from the figures: a reader that learns to read
//! a sentence better must not turn an old text into a second report.

use sha2::{Digest, Sha256};

use crate::model::{AttackReport, Threat};

/// The longest evidence or notice text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// A count above this is a misreading, not an attack.
pub const MAX_COUNT: u32 = 100_000;
const MAX_ITEMS: usize = 1_000;
const MAX_NAME_CHARS: usize = 300;

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

/// `report.attack` and the evidence sentences, hashed.
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

fn is_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

fn check_count(field: &str, v: Option<u32>) -> Result<(), String> {
    match v {
        Some(n) if n > MAX_COUNT => Err(format!(
            "{field}: {n} is more than {MAX_COUNT}; a count that large is a misreading"
        )),
        _ => Ok(()),
    }
}

fn check_text(field: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!(
            "{field}: empty; the source text is kept as evidence"
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("{field}: longer than {MAX_TEXT_CHARS} characters"));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), String> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{field}: longer than {MAX_NAME_CHARS} characters"));
    }
    Ok(())
}

/// Why a report may not be recorded, naming the field; figures that disagree with each other
/// (more destroyed than launched, a headline total that differs) are kept, because official
/// texts do that and the record keeps what they said.
pub fn check_report(r: &AttackReport) -> Result<(), String> {
    for (field, code) in [("attacker", &r.attacker), ("target", &r.target)] {
        if !is_country(code) {
            return Err(format!(
                "{field}: {code:?} is not an ISO 3166-1 alpha-2 code (two capital letters)"
            ));
        }
    }
    if let (Some(s), Some(e)) = (r.period.start, r.period.end)
        && e < s
    {
        return Err(format!("period: ends ({e}) before it starts ({s})"));
    }
    if r.evidence.is_empty() {
        return Err("evidence: empty; the source text is kept as evidence".into());
    }
    for (name, len) in [
        ("evidence", r.evidence.len()),
        ("weapons", r.weapons.len()),
        ("regions", r.regions.len()),
        ("launch_areas", r.launch_areas.len()),
        ("flags", r.flags.len()),
    ] {
        if len > MAX_ITEMS {
            return Err(format!("{name}: more than {MAX_ITEMS} entries"));
        }
    }
    for (i, e) in r.evidence.iter().enumerate() {
        check_text(&format!("evidence[{i}].text"), &e.text)?;
        if e.end < e.start {
            return Err(format!(
                "evidence[{i}]: end {} before start {}",
                e.end, e.start
            ));
        }
    }
    for (i, w) in r.weapons.iter().enumerate() {
        for (f, v) in [
            ("launched", w.launched),
            ("destroyed", w.destroyed),
            ("suppressed", w.suppressed),
            ("left_airspace", w.left_airspace),
            ("hit", w.hit),
        ] {
            check_count(&format!("weapons[{i}].{f}"), v)?;
        }
        if let Some(m) = &w.model {
            check_name(&format!("weapons[{i}].model"), m)?;
        }
    }
    for (i, g) in r.regions.iter().enumerate() {
        check_name(&format!("regions[{i}].name"), &g.name)?;
        if !is_country(&g.country) {
            return Err(format!(
                "regions[{i}].country: {:?} is not an ISO 3166-1 alpha-2 code",
                g.country
            ));
        }
    }
    for (i, a) in r.launch_areas.iter().enumerate() {
        check_name(&format!("launch_areas[{i}]"), a)?;
    }
    check_count("casualties.killed", r.casualties.killed)?;
    check_count("casualties.injured", r.casualties.injured)?;
    check_count("hit_locations", r.hit_locations)?;
    check_count("debris_locations", r.debris_locations)?;
    check_count("headline_destroyed", r.headline_destroyed)?;
    Ok(())
}

/// Why a threat notice may not be recorded, naming the field.
pub fn check_threat(t: &Threat) -> Result<(), String> {
    check_text("text", &t.text)?;
    check_count("count", t.count)?;
    if let Some(m) = &t.model {
        check_name("model", m)?;
    }
    for (f, r) in [
        ("from_region", &t.from_region),
        ("towards_region", &t.towards_region),
    ] {
        if let Some(r) = r {
            check_name(&format!("{f}.name"), &r.name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Evidence, ThreatKind, WeaponClass, WeaponCount};

    fn report() -> AttackReport {
        let mut r = AttackReport::new("RU", "UA");
        r.evidence.push(Evidence {
            text: "Russia launched 40 drones overnight.".into(),
            start: 0,
            end: 36,
        });
        r.weapons.push(WeaponCount {
            class: Some(WeaponClass::Drone),
            launched: Some(40),
            ..WeaponCount::default()
        });
        r
    }

    #[test]
    fn the_key_follows_the_text_not_the_figures() {
        let a = report();
        let mut b = report();
        b.weapons[0].destroyed = Some(30);
        assert_eq!(report_key(&a), report_key(&b));
        assert_eq!(report_key(&a).len(), 64);
        let mut c = report();
        c.evidence[0].text = "Russia launched 41 drones overnight.".into();
        assert_ne!(report_key(&a), report_key(&c));
    }

    #[test]
    fn checks_name_the_field() {
        assert_eq!(check_report(&report()), Ok(()));
        let mut r = report();
        r.attacker = "Russia".into();
        assert!(check_report(&r).unwrap_err().starts_with("attacker"));
        let mut r = report();
        r.weapons[0].launched = Some(5_000_000);
        assert!(
            check_report(&r)
                .unwrap_err()
                .starts_with("weapons[0].launched")
        );
        let mut r = report();
        r.evidence.clear();
        assert!(check_report(&r).unwrap_err().starts_with("evidence"));
        let t = Threat {
            kind: ThreatKind::Drone,
            action: Action::Start,
            count: None,
            model: None,
            from_region: None,
            towards_region: None,
            at: None,
            text: " ".into(),
        };
        assert!(check_threat(&t).unwrap_err().starts_with("text"));
    }
}

//! What a report or threat must carry to be recorded, whoever sends it: a client posting one by
//! hand gets the same rules as the readers' output. Each failure names the field at fault.
//!
//! Figures that disagree with each other (more destroyed than launched, a headline total that
//! differs) are kept, because official texts do that and the record keeps what they said; only
//! what cannot be a reading of a text is refused.

use super::{AttackReport, Threat};

/// The longest evidence or notice text accepted, in characters.
pub const MAX_SOURCE_CHARS: usize = 20_000;
/// A count above this is a misreading, not an attack.
pub const MAX_COUNT: u32 = 100_000;
/// The most entries a list of a report (evidence, weapons, regions, ...) may hold.
pub const MAX_ITEMS: usize = 1_000;
/// The longest name (weapon model, region, launch area) accepted, in characters.
pub const MAX_NAME_CHARS: usize = 300;

/// Why a report or threat may not be recorded: the field at fault (`weapons[0].launched`,
/// relative to the report or threat) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

fn fail(field: impl Into<String>, problem: impl Into<String>) -> Result<(), FieldError> {
    Err(FieldError {
        field: field.into(),
        problem: problem.into(),
    })
}

fn is_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

fn check_count(field: &str, v: Option<u32>) -> Result<(), FieldError> {
    match v {
        Some(n) if n > MAX_COUNT => fail(
            field,
            format!("{n} is more than {MAX_COUNT}; a count that large is a misreading"),
        ),
        _ => Ok(()),
    }
}

fn check_text(field: &str, text: &str) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return fail(field, "empty; the source text is kept as evidence");
    }
    if text.chars().count() > MAX_SOURCE_CHARS {
        return fail(field, format!("longer than {MAX_SOURCE_CHARS} characters"));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.chars().count() > MAX_NAME_CHARS {
        return fail(field, format!("longer than {MAX_NAME_CHARS} characters"));
    }
    Ok(())
}

/// Why a report may not be recorded, naming the field.
pub fn check_report(r: &AttackReport) -> Result<(), FieldError> {
    for (field, code) in [("attacker", &r.attacker), ("target", &r.target)] {
        if !is_country(code) {
            return fail(
                field,
                format!("{code:?} is not an ISO 3166-1 alpha-2 code (two capital letters)"),
            );
        }
    }
    if let (Some(s), Some(e)) = (r.period.start, r.period.end)
        && e < s
    {
        return fail("period", format!("ends ({e}) before it starts ({s})"));
    }
    if r.evidence.is_empty() {
        return fail("evidence", "empty; the source text is kept as evidence");
    }
    for (name, len) in [
        ("evidence", r.evidence.len()),
        ("weapons", r.weapons.len()),
        ("regions", r.regions.len()),
        ("launch_areas", r.launch_areas.len()),
        ("flags", r.flags.len()),
    ] {
        if len > MAX_ITEMS {
            return fail(name, format!("more than {MAX_ITEMS} entries"));
        }
    }
    for (i, e) in r.evidence.iter().enumerate() {
        check_text(&format!("evidence[{i}].text"), &e.text)?;
        if e.end < e.start {
            return fail(
                format!("evidence[{i}]"),
                format!("end {} before start {}", e.end, e.start),
            );
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
            return fail(
                format!("regions[{i}].country"),
                format!("{:?} is not an ISO 3166-1 alpha-2 code", g.country),
            );
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
pub fn check_threat(t: &Threat) -> Result<(), FieldError> {
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
    use crate::report::samples::*;

    #[test]
    fn checks_name_the_field() {
        assert_eq!(check_report(&drone_report()), Ok(()));
        let mut r = drone_report();
        r.attacker = "Russia".into();
        assert!(
            check_report(&r)
                .unwrap_err()
                .to_string()
                .starts_with("attacker")
        );
        let mut r = drone_report();
        r.weapons[0].launched = Some(5_000_000);
        assert!(
            check_report(&r)
                .unwrap_err()
                .to_string()
                .starts_with("weapons[0].launched")
        );
        let mut r = drone_report();
        r.evidence.clear();
        assert!(
            check_report(&r)
                .unwrap_err()
                .to_string()
                .starts_with("evidence")
        );
        let t = threat(" ");
        assert!(
            check_threat(&t)
                .unwrap_err()
                .to_string()
                .starts_with("text")
        );
    }
}

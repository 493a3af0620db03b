//! Folding weapon phrases into a report's per-weapon counts: one entry per class (and model
//! where the text tells models apart), each count kept as the text stated it. A phrase that
//! repeats a figure (headline and body) does not add to it.

use tryvoga_core::report::{WeaponClass, WeaponCount};

use crate::weapons::{CountRole, Mention};

fn models_of(w: &WeaponCount) -> Vec<String> {
    w.model
        .as_deref()
        .map(|m| m.split('/').map(str::to_string).collect())
        .unwrap_or_default()
}

fn remaining(w: &WeaponCount) -> Option<u32> {
    let l = w.launched?;
    let used = w.destroyed.unwrap_or(0) + w.hit.unwrap_or(0) + w.suppressed.unwrap_or(0);
    Some(l.saturating_sub(used))
}

fn find_entry(weapons: &[WeaponCount], m: &Mention) -> Option<usize> {
    let class = m.class;
    if class == WeaponClass::Drone {
        return weapons.iter().position(|w| w.class == Some(class));
    }
    if !m.models.is_empty() {
        let overlap = weapons.iter().position(|w| {
            w.class == Some(class) && models_of(w).iter().any(|x| m.models.contains(&x.as_str()))
        });
        return overlap.or_else(|| {
            weapons
                .iter()
                .position(|w| w.class == Some(class) && w.model.is_none())
        });
    }
    if class == WeaponClass::Missile {
        let missiles: Vec<usize> = weapons
            .iter()
            .enumerate()
            .filter(|(_, w)| w.class.is_some_and(WeaponClass::is_missile))
            .map(|(i, _)| i)
            .collect();
        // One missile of no stated type that hit or missed is the one whose launches are not yet
        // accounted for; a larger figure across several types stays untyped.
        if matches!(
            m.role,
            Some(CountRole::Hit | CountRole::Suppressed | CountRole::Destroyed)
        ) && m.count.unwrap_or(1) == 1
        {
            let need = 1;
            let fits: Vec<usize> = missiles
                .iter()
                .copied()
                .filter(|&i| remaining(&weapons[i]).is_some_and(|r| r >= need))
                .collect();
            if fits.len() == 1 {
                return Some(fits[0]);
            }
        }
        if missiles.len() == 1 {
            return Some(missiles[0]);
        }
        return weapons
            .iter()
            .position(|w| w.class == Some(WeaponClass::Missile));
    }
    weapons.iter().position(|w| w.class == Some(class))
}

fn set(slot: &mut Option<u32>, v: Option<u32>) {
    if let Some(v) = v {
        *slot = Some(slot.map_or(v, |old| old.max(v)));
    }
}

/// Adds one phrase to the per-weapon counts.
pub fn add(weapons: &mut Vec<WeaponCount>, m: &Mention) {
    if m.rest {
        // "Решта ракет цілей не досягла": whatever was neither shot down nor hit.
        if m.role == Some(CountRole::Suppressed) {
            for w in weapons.iter_mut() {
                let fits = w.class.is_some_and(|c| {
                    if m.class == WeaponClass::Missile {
                        c.is_missile()
                    } else {
                        c == m.class
                    }
                });
                if fits
                    && w.suppressed.is_none()
                    && let Some(r) = remaining(w)
                    && r > 0
                {
                    w.suppressed = Some(r);
                }
            }
        }
        return;
    }
    // "частина ворожих ракет не досягла цілей": a missile of no stated type and count adds
    // nothing once the report has missiles.
    if m.class == WeaponClass::Missile
        && m.count.is_none()
        && m.models.is_empty()
        && weapons
            .iter()
            .any(|w| w.class.is_some_and(WeaponClass::is_missile))
    {
        return;
    }
    let idx = match find_entry(weapons, m) {
        Some(i) => i,
        None => {
            weapons.push(WeaponCount {
                class: Some(m.class),
                ..WeaponCount::default()
            });
            weapons.len() - 1
        }
    };
    let w = &mut weapons[idx];
    let mut models = models_of(w);
    for x in &m.models {
        if !models.iter().any(|y| y == x) {
            models.push((*x).to_string());
        }
    }
    if !models.is_empty() {
        w.model = Some(models.join("/"));
    }
    match m.role {
        Some(CountRole::Launched) => set(&mut w.launched, m.count),
        Some(CountRole::Destroyed) => set(&mut w.destroyed, m.count),
        Some(CountRole::Suppressed) => set(&mut w.suppressed, m.count),
        Some(CountRole::LeftAirspace) => set(&mut w.left_airspace, m.count),
        Some(CountRole::Hit) => set(&mut w.hit, m.count),
        Some(CountRole::Airborne) | None => {}
    }
}

/// Puts entries in a stable order: drones first, then missiles by class, then the rest.
pub fn sort(weapons: &mut [WeaponCount]) {
    weapons.sort_by_key(|w| w.class);
}

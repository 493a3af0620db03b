//! The words weapon phrases are made of: which word is a weapon noun, which adjective fixes a
//! class, which model name means which class, and which of two classes is the more specific.
//! Kept apart from the scanner in `weapons` so that the vocabulary can be read and extended
//! on its own.

use tryvoga_core::report::WeaponClass;

/// What a token says about weapons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lex {
    /// The noun of a weapon phrase.
    Head(WeaponClass, Number),
    /// An adjective that fixes the class ("балістичними", "cruise").
    ClassAdj(WeaponClass),
    /// A model name, with its class.
    Model(&'static str, WeaponClass),
    /// A word that may stand between a numeral and its noun ("ворожих", "Russian").
    Filler,
    /// "решта", "remaining": the rest of what was launched.
    Rest,
    /// "a", "an": one, when a singular noun follows.
    Article,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Number {
    Singular,
    /// Genitive singular, which is also the nominative plural ("ракети").
    SingularGenitive,
    Plural,
}

pub(super) fn model_lex(part: &str) -> Option<(&'static str, WeaponClass)> {
    use WeaponClass::*;
    let p = part.trim_matches(|c: char| !c.is_alphanumeric());
    Some(match p {
        _ if p.starts_with("shahed")
            || p.starts_with("шахед")
            || p.starts_with("герань")
            || p.starts_with("geran") =>
        {
            ("Shahed", Drone)
        }
        "гербера" | "gerbera" | "гербер" => ("Gerbera", Drone),
        "італмас" | "italmas" => ("Italmas", Drone),
        "пародія" | "parodiya" | "parodia" => ("Parodiya", Drone),
        "молнія" | "molniya" | "молния" => ("Molniya", Drone),
        "ланцет" | "lancet" => ("Lancet", Drone),
        "іскандер-м" | "іскандер" | "iskander-m" | "iskander" | "іскандерм" => {
            ("Iskander-M", BallisticMissile)
        }
        "kn-23" | "кн-23" => ("KN-23", BallisticMissile),
        "с-400" | "s-400" => ("S-400", BallisticMissile),
        "с-300" | "s-300" => ("S-300", BallisticMissile),
        "калібр" | "kalibr" | "калибр" => ("Kalibr", CruiseMissile),
        "х-101" | "kh-101" => ("Kh-101", CruiseMissile),
        "х-555" | "kh-555" => ("Kh-555", CruiseMissile),
        "х-55" | "kh-55" => ("Kh-55", CruiseMissile),
        "х-22" | "kh-22" => ("Kh-22", CruiseMissile),
        "х-32" | "kh-32" => ("Kh-32", CruiseMissile),
        "кинджал" | "кінжал" | "kinzhal" | "х-47" | "х-47м2" | "kh-47" => {
            ("Kinzhal", AeroballisticMissile)
        }
        "циркон" | "zircon" | "tsirkon" | "zirkon" => ("Zircon", AntiShipMissile),
        "онікс" | "oniks" | "onyx" | "п-800" | "p-800" => ("Oniks", AntiShipMissile),
        "х-35" | "kh-35" => ("Kh-35", AntiShipMissile),
        "х-59" | "kh-59" => ("Kh-59", GuidedMissile),
        "х-69" | "kh-69" | "69" => ("Kh-69", GuidedMissile),
        "х-31" | "kh-31" => ("Kh-31", GuidedMissile),
        "х-31п" | "kh-31p" | "kh-31п" => ("Kh-31P", GuidedMissile),
        "х-29" | "kh-29" => ("Kh-29", GuidedMissile),
        "орєшнік" | "орешник" | "oreshnik" => ("Oreshnik", Irbm),
        "умпк" | "фаб" | "fab" => ("KAB", GuidedBomb),
        "s8000" | "с8000" | "бандероль" | "banderol" | "banderole" => {
            ("S8000 Banderol", Other)
        }
        "дань-т" | "dan-t" | "дань" => ("Dan-T", Other),
        _ => return None,
    })
}

pub(super) fn lex(w: &str) -> Option<Lex> {
    use WeaponClass::*;
    // Heads.
    let head = |c, n| Some(Lex::Head(c, n));
    match w {
        "ракета" | "ракету" | "ракетою" => {
            return head(Missile, Number::Singular);
        }
        "ракети" => return head(Missile, Number::SingularGenitive),
        "missile" | "rocket" => return head(Missile, Number::Singular),
        "missiles" | "rockets" => return head(Missile, Number::Plural),
        "drone" | "uav" => return head(Drone, Number::Singular),
        "drones" | "uavs" | "shaheds" => return head(Drone, Number::Plural),
        "bomb" => return head(GuidedBomb, Number::Singular),
        "bombs" => return head(GuidedBomb, Number::Plural),
        "каб" | "кабів" | "кабами" | "каби" => {
            return head(GuidedBomb, Number::Plural);
        }
        "a" | "an" => return Some(Lex::Article),
        "решта" | "решту" | "remaining" | "rest" => return Some(Lex::Rest),
        _ => {}
    }
    // Noun forms only: "ракетні війська" (missile troops) is not a weapon.
    if matches!(
        w,
        "ракет" | "ракетами" | "ракетам" | "ракетах" | "ракеті" | "ракетима"
    ) {
        return head(Missile, Number::Plural);
    }
    if w == "бпла" || w.starts_with("безпілотник") || w.starts_with("дрон") {
        return head(Drone, Number::Plural);
    }
    if w.starts_with("боєприпас") || w == "munitions" || w == "munition" {
        return head(Other, Number::Plural);
    }
    if w.starts_with("авіабомб") || w.starts_with("бомб") {
        return head(GuidedBomb, Number::Plural);
    }
    // Class adjectives.
    let adj = |c| Some(Lex::ClassAdj(c));
    if w.starts_with("аеробалістичн") || w == "aeroballistic" || w == "air-launched-ballistic"
    {
        return adj(AeroballisticMissile);
    }
    if w.starts_with("балістичн") || w == "ballistic" || w.starts_with("зенітн") {
        return adj(BallisticMissile);
    }
    if w.starts_with("протикорабельн") || w == "anti-ship" || w == "antiship" {
        return adj(AntiShipMissile);
    }
    if w.starts_with("крилат") || w == "cruise" {
        return adj(CruiseMissile);
    }
    if w.starts_with("протирадіолокаційн")
        || w.starts_with("керован")
        || w == "guided"
        || w == "anti-radar"
        || w == "anti-radiation"
    {
        return adj(GuidedMissile);
    }
    // Models, also joined by slashes ("Іскандер-М/KN-23/С-400", "Х-59/69").
    if let Some((name, class)) = w.split('/').find_map(model_lex) {
        return Some(Lex::Model(name, class));
    }
    const FILLERS: &[&str] = &[
        "ворожих",
        "ворожі",
        "ворожа",
        "ворожу",
        "ворожими",
        "ворожої",
        "ударних",
        "ударними",
        "ударним",
        "ударні",
        "ударного",
        "реактивних",
        "реактивними",
        "реактивні",
        "авіаційних",
        "авіаційними",
        "авіаційною",
        "авіаційну",
        "авіаційні",
        "авіаційна",
        "авіаційною",
        "баражуючих",
        "баражуючими",
        "баражуючі",
        "морського",
        "повітряного",
        "базування",
        "типу",
        "russian",
        "ukrainian",
        "ukraine's",
        "iranian",
        "belarusian",
        "russia's",
        "enemy",
        "attack",
        "kamikaze",
        "strike",
        "shahed-type",
        "iranian-made",
        "iranian-designed",
        "loitering",
        "more",
        "further",
        "hostile",
        "unmanned",
        "aerial",
        "vehicles",
        "other",
        "of",
        "інших",
        "типів",
        "dummy",
        "decoy",
        "decoys",
        "imitator",
        "противника",
        "ворога",
    ];
    const FILLER_STEMS: &[&str] = &[
        "ворож",
        "ударн",
        "реактивн",
        "авіаційн",
        "баражуюч",
        "безпілотн",
    ];
    if FILLERS.contains(&w) || FILLER_STEMS.iter().any(|s| w.starts_with(s)) {
        return Some(Lex::Filler);
    }
    None
}

/// More specific classes win when adjectives and models disagree on detail.
pub(super) fn refine(a: WeaponClass, b: WeaponClass) -> WeaponClass {
    use WeaponClass::*;
    let rank = |c: WeaponClass| match c {
        Missile => 0,
        GuidedMissile => 1,
        CruiseMissile => 2,
        AntiShipMissile => 3,
        BallisticMissile => 4,
        AeroballisticMissile => 5,
        Irbm => 6,
        Drone | GuidedBomb | Other => 7,
    };
    if rank(b) > rank(a) { b } else { a }
}

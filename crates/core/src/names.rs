//! Normalisation of region names for matching: case, apostrophes, punctuation and the
//! administrative words (область, raion, громада, ...) that people add or leave out.

use crate::region::Level;

/// A name reduced to comparable form, plus the level the words in it hinted at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedName {
    /// Lower-case words, apostrophes removed, punctuation folded to single spaces.
    pub full: String,
    /// `full` without the administrative words.
    pub bare: String,
    /// The level named by an administrative word, if any ("область" → oblast).
    pub level_hint: Option<LevelHint>,
}

/// What an administrative word says about the level of the region meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelHint {
    Oblast,
    Raion,
    Hromada,
    /// "м.", "місто", "city": a city, which is either a top-level unit (Kyiv, Sevastopol) or a
    /// hromada.
    City,
}

impl LevelHint {
    pub fn admits(self, level: Level) -> bool {
        match self {
            LevelHint::Oblast => level == Level::Oblast,
            LevelHint::Raion => level == Level::Raion,
            LevelHint::Hromada => level == Level::Hromada,
            LevelHint::City => matches!(level, Level::Oblast | Level::Hromada),
        }
    }
}

fn word_hint(word: &str) -> Option<LevelHint> {
    Some(match word {
        "область" | "обл" | "oblast" | "oblasti" | "region" | "province" | "арк" | "ар" => {
            LevelHint::Oblast
        }
        "район" | "р-н" | "raion" | "rayon" | "district" => LevelHint::Raion,
        "громада"
        | "територіальна"
        | "тг"
        | "hromada"
        | "terytorialna"
        | "community"
        | "territorial"
        | "otg"
        | "отг" => LevelHint::Hromada,
        "м" | "місто" | "city" | "misto" | "m" => LevelHint::City,
        _ => return None,
    })
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '`' | '‘' | 'ʹ' | '′' | '´')
}

/// A name folded for comparison: lower-case words separated by single spaces, apostrophes
/// removed, a leading `#` dropped, and every other character that is not a letter or digit
/// (`_` of hashtags, `-`, `.`, `,`, brackets...) folded to a space. It is
/// [`NormalisedName::full`], for indexes that decide about the administrative words themselves.
pub fn fold_name(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    for c in name.trim().trim_start_matches('#').chars() {
        if is_apostrophe(c) {
            continue;
        }
        if c.is_alphanumeric() {
            folded.extend(c.to_lowercase());
        } else {
            folded.push(' ');
        }
    }
    let mut out = String::with_capacity(folded.len());
    for w in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Normalises a name for lookup. Words joined by `_` (hashtags) or `-` are split into words.
pub fn normalise(name: &str) -> NormalisedName {
    let full = fold_name(name);
    let words: Vec<&str> = full.split(' ').filter(|w| !w.is_empty()).collect();
    let mut level_hint = None;
    let mut bare_words = Vec::with_capacity(words.len());
    for w in &words {
        match word_hint(w) {
            Some(h) => {
                // "територіальна громада" names a hromada even though "м." may precede it
                // ("м. Біла Церква та Білоцерківська територіальна громада").
                if level_hint.is_none() || h == LevelHint::Hromada {
                    level_hint = Some(h);
                }
            }
            None => bare_words.push(*w),
        }
    }
    NormalisedName {
        bare: bare_words.join(" "),
        full,
        level_hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apostrophes_and_case_fold() {
        assert_eq!(
            normalise("Кам’янець-Подільський район").bare,
            "камянець подільський"
        );
        assert_eq!(
            normalise("КАМ'ЯНЕЦЬ-ПОДІЛЬСЬКИЙ").bare,
            "камянець подільський"
        );
    }

    #[test]
    fn fold_name_is_the_full_form() {
        assert_eq!(
            fold_name("#м_Харків_та_Харківська"),
            "м харків та харківська"
        );
        assert_eq!(fold_name("  Куп’янський (район). "), "купянський район");
        assert_eq!(fold_name(""), "");
        for n in [
            "Кам'янець-Подільський район",
            "#Київська_область",
            "м. Київ",
        ] {
            assert_eq!(fold_name(n), normalise(n).full);
        }
    }

    #[test]
    fn level_words_become_hints() {
        let n = normalise("Kyiv oblast");
        assert_eq!(n.bare, "kyiv");
        assert_eq!(n.full, "kyiv oblast");
        assert_eq!(n.level_hint, Some(LevelHint::Oblast));
        assert_eq!(normalise("#Київська_область").bare, "київська");
        assert_eq!(normalise("м. Київ").level_hint, Some(LevelHint::City));
        assert_eq!(
            normalise("м. Біла Церква та Білоцерківська територіальна громада").level_hint,
            Some(LevelHint::Hromada)
        );
    }
}

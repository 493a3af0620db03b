//! Weapon phrases in Ukrainian and English: "шістьма балістичними ракетами Іскандер-М/С-400",
//! "2 S8000 "Бандероль”", "two cruise missiles", "37 Russian drones". Finds each phrase with its
//! class, models and count, and the role the sentence gives it (launched, destroyed,
//! suppressed, left the airspace, hit). Numbers not attached to a weapon word (troops, money,
//! years, distances) never become counts.
//!
//! Longer than most files, on purpose: `scan_in_context` is one pass over a sentence's tokens
//! whose state (a pending count, the class and models seen, the role carried from the verb) is
//! shared by every case it handles; the vocabulary is in `weapons/lexicon.rs` and the tests in
//! `weapons_tests.rs`.

use tryvoga_core::report::WeaponClass;

use crate::numbers::{fold, parse_digits, parse_phrase};

mod lexicon;

use lexicon::{Lex, Number, lex, model_lex, refine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Word,
    /// Digits, possibly grouped ("10,000").
    Number,
    /// Digits joined by `:` or `.` (a time or a date): never a count.
    Clock,
    Punct,
}

#[derive(Debug, Clone)]
pub struct Tok {
    pub start: usize,
    pub end: usize,
    pub kind: TokKind,
    /// Lower-case, apostrophes removed, a leading Latin `x-` of a model code made Cyrillic.
    pub lower: String,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Splits text into words, numbers, clock times and punctuation. Hyphens, slashes and
/// apostrophes inside a word keep it whole ("Іскандер-М/KN-23", "п’ять", "збито/подавлено").
pub fn tokenize(text: &str) -> Vec<Tok> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |k: usize| chars.get(k).map(|&(_, c)| c);
    let byte = |k: usize| chars.get(k).map(|&(b, _)| b).unwrap_or(text.len());
    while i < chars.len() {
        let c = chars[i].1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_word_char(c) {
            let start = i;
            let mut j = i;
            loop {
                while at(j).is_some_and(is_word_char) {
                    j += 1;
                }
                // Inner joiners: the next char must be a word char again.
                match at(j) {
                    Some('-' | '/' | '\'' | '’' | 'ʼ') if at(j + 1).is_some_and(is_word_char) => {
                        j += 1;
                    }
                    // "10,000": a comma followed by exactly three digits and a non-digit.
                    Some(',')
                        if chars[start..j].iter().all(|&(_, c)| c.is_ascii_digit())
                            && (1..=3).all(|k| at(j + k).is_some_and(|c| c.is_ascii_digit()))
                            && !at(j + 4).is_some_and(|c| c.is_ascii_digit()) =>
                    {
                        j += 1;
                    }
                    _ => break,
                }
            }
            let mut kind = if chars[start..j]
                .iter()
                .all(|&(_, c)| c.is_ascii_digit() || c == ',')
            {
                TokKind::Number
            } else {
                TokKind::Word
            };
            // "08:30", "07.30", "13.11.2024": a clock or date.
            if kind == TokKind::Number
                && matches!(at(j), Some(':' | '.'))
                && at(j + 1).is_some_and(|c| c.is_ascii_digit())
            {
                j += 1;
                while at(j).is_some_and(|c| c.is_ascii_digit() || c == ':' || c == '.') {
                    j += 1;
                }
                while matches!(at(j.saturating_sub(1)), Some('.' | ':')) && j > start + 1 {
                    j -= 1;
                }
                kind = TokKind::Clock;
            }
            let s = &text[byte(start)..byte(j)];
            let mut lower = fold(s);
            // Model codes written with a Latin x ("X-59") read as the Cyrillic "Х-59".
            if lower.starts_with("x-") {
                lower.replace_range(0..1, "х");
            }
            out.push(Tok {
                start: byte(start),
                end: byte(j),
                kind,
                lower,
            });
            i = j;
        } else {
            out.push(Tok {
                start: byte(i),
                end: byte(i + 1),
                kind: TokKind::Punct,
                lower: c.to_string(),
            });
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountRole {
    Launched,
    Destroyed,
    Suppressed,
    LeftAirspace,
    Hit,
    /// Still in the air, on its way: counted nowhere.
    Airborne,
}

/// One weapon phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub class: WeaponClass,
    pub models: Vec<&'static str>,
    pub count: Option<u32>,
    pub role: Option<CountRole>,
    /// "the rest of the missiles": the remainder of what was launched.
    pub rest: bool,
    /// The role was fixed by the phrase's shape ("56 of 90 drones": 90 launched).
    fixed: bool,
    /// "56 of 90": the part (56) and the token where it stands.
    part: Option<(u32, usize)>,
    pub start: usize,
    pub end: usize,
    /// Index of the first and one-past-last token of the phrase.
    tok_start: usize,
    tok_end: usize,
}

/// Role keywords: the role, and whether it applies to the phrase before it (passive voice,
/// "не досягла цілі") rather than to those after it.
fn role_at(toks: &[Tok], i: usize) -> Option<(CountRole, bool, usize)> {
    let w = toks[i].lower.as_str();
    let next = toks.get(i + 1).map(|t| t.lower.as_str());
    let prev = i.checked_sub(1).map(|j| toks[j].lower.as_str());
    let forward = |r| Some((r, false, 1));
    let backward = |r, n| Some((r, true, n));
    match w {
        "атакував"
        | "атакувала"
        | "атакували"
        | "застосував"
        | "застосувала"
        | "застосували"
        | "випустив"
        | "випустила"
        | "запустив"
        | "запустила"
        | "застосувавши"
        | "використав"
        | "використавши"
        | "завдав"
        | "завдала"
        | "випущено"
        | "запущено"
        | "застосовано"
        | "використано"
        | "launched"
        | "launching"
        | "fired"
        | "launch"
        | "used" => return forward(CountRole::Launched),
        "attacked" | "targeted" if next == Some("with") || next == Some("ukraine") => {
            return forward(CountRole::Launched);
        }
        "влучання" | "влучань" => return forward(CountRole::Hit),
        // "struck Ukraine with 200 drones", "attacked Kharkiv with missiles".
        "with"
            if (i.saturating_sub(4)..i).any(|j| {
                matches!(
                    toks[j].lower.as_str(),
                    "attacked"
                        | "struck"
                        | "hit"
                        | "targeted"
                        | "pounded"
                        | "bombarded"
                        | "attacking"
                        | "attack"
                        | "attacks"
                        | "barrage"
                        | "strike"
                        | "strikes"
                )
            }) =>
        {
            return forward(CountRole::Launched);
        }
        // "497 засобів повітряного нападу": the total launched.
        "засобів" | "засоби" | "засобами"
            if next == Some("повітряного") && prev != Some("влучання") =>
        {
            return forward(CountRole::Launched);
        }
        "hit" | "struck" if !matches!(prev, Some("were" | "was" | "been" | "be")) => {
            return backward(CountRole::Hit, 1);
        }
        "reach" | "reached" if matches!(prev, Some("not" | "to")) => {
            return backward(CountRole::Suppressed, 1);
        }
        "downed" | "intercepted" | "destroyed" | "neutralised" | "neutralized" => {
            return if matches!(prev, Some("were" | "was" | "been")) {
                backward(CountRole::Destroyed, 1)
            } else {
                forward(CountRole::Destroyed)
            };
        }
        "shot" | "shoot" | "shooting" if next == Some("down") => {
            return if matches!(prev, Some("were" | "was" | "been")) {
                backward(CountRole::Destroyed, 2)
            } else {
                Some((CountRole::Destroyed, false, 2))
            };
        }
        "lost" | "jammed" | "suppressed" => {
            return if matches!(prev, Some("were" | "was" | "been")) || w == "lost" {
                backward(CountRole::Suppressed, 1)
            } else {
                forward(CountRole::Suppressed)
            };
        }
        "left" | "flew" => return backward(CountRole::LeftAirspace, 1),
        "досягла" | "досягли" | "долетіла" | "долетіли" if prev == Some("не") =>
        {
            return backward(CountRole::Suppressed, 1);
        }
        "повітряному" | "airspace" if next == Some("просторі") || prev == Some("the") =>
        {
            return forward(CountRole::Airborne);
        }
        _ => {}
    }
    if w.contains("збито")
        || w.contains("знищено")
        || w.contains("знешкоджено")
        || w.contains("подавлено")
        || w.starts_with("перехоплен")
    {
        return forward(CountRole::Destroyed);
    }
    if w == "локаційно" || w == "втрачено" {
        return forward(CountRole::Suppressed);
    }
    None
}

/// "in 2024", "since 2022": a year, not a count.
fn is_year(toks: &[Tok], i: usize) -> bool {
    let t = &toks[i];
    if t.kind != TokKind::Number || t.lower.len() != 4 {
        return false;
    }
    let Some(v) = parse_digits(&t.lower) else {
        return false;
    };
    let prep = i
        .checked_sub(1)
        .map(|j| toks[j].lower.as_str())
        .is_some_and(|p| {
            matches!(
                p,
                "in" | "since"
                    | "until"
                    | "by"
                    | "from"
                    | "of"
                    | "during"
                    | "before"
                    | "after"
                    | "у"
                    | "в"
                    | "з"
                    | "до"
                    | "від"
                    | "році"
                    | "рік"
                    | "року"
            )
        });
    let next_year_word = toks
        .get(i + 1)
        .is_some_and(|n| matches!(n.lower.as_str(), "року" | "році" | "рік" | "р"));
    (1900..=2100).contains(&v) && (prep || next_year_word)
}

/// The role a sentence's last forward keyword sets ("противник атакував:"), which bullet lines
/// below it inherit.
pub fn sentence_role(toks: &[Tok]) -> Option<CountRole> {
    (0..toks.len())
        .rev()
        .find_map(|i| role_at(toks, i).filter(|r| !r.1).map(|r| r.0))
}

/// Finds the weapon phrases of one sentence, in order, with their roles. `context` is the
/// weapon named last before this sentence, which a bare count ("Of those, 62 were shot down")
/// refers to.
pub fn scan_in_context(
    _text: &str,
    toks: &[Tok],
    context: Option<(WeaponClass, Vec<&'static str>)>,
) -> Vec<Mention> {
    let mut mentions: Vec<Mention> = Vec::new();
    let mut pending_num: Option<u32> = None;
    let mut pending_num_tok = 0usize;
    let mut pending_part: Option<(u32, usize)> = None;
    let mut pending_article = false;
    let mut pending_adj: Option<WeaponClass> = None;
    let mut pending_rest = false;
    let mut current: Option<usize> = None;
    let mut i = 0;
    let words: Vec<&str> = toks.iter().map(|t| t.lower.as_str()).collect();
    while i < toks.len() {
        let t = &toks[i];
        if t.kind == TokKind::Punct {
            match t.lower.as_str() {
                "," | "/" | "«" | "»" | "\"" | "“" | "”" | "„" | "'" => {}
                _ => current = None,
            }
            pending_num = None;
            pending_article = false;
            pending_adj = None;
            pending_rest = false;
            i += 1;
            continue;
        }
        if t.kind == TokKind::Clock {
            pending_num = None;
            current = None;
            i += 1;
            continue;
        }
        let lexed = lex(&t.lower);
        // A numeral, possibly several words long; but a model code such as "69" in "Х-59/69"
        // is not read as a number here (it only appears inside a token).
        if is_year(toks, i) {
            pending_num = None;
            current = None;
            i += 1;
            continue;
        }
        if !matches!(lexed, Some(Lex::Head(..) | Lex::Model(..)))
            && (t.kind == TokKind::Number || parse_digits(&t.lower).is_none())
            && let Some((v, used)) = parse_phrase(&words[i..])
        {
            // "56 of 90 drones", "56 out of 90": the first number is a part of the second.
            let of_before = i >= 1 && words[i - 1] == "of";
            pending_part = match (pending_num, of_before) {
                (Some(p), true) => Some((p, pending_num_tok)),
                _ => None,
            };
            pending_num = Some(v);
            pending_num_tok = i;
            pending_adj = None;
            current = None;
            i += used;
            continue;
        }
        match lexed {
            Some(Lex::Filler) => {}
            Some(Lex::Article) => {
                pending_article = true;
                current = None;
            }
            Some(Lex::Rest) => pending_rest = true,
            Some(Lex::ClassAdj(c)) => {
                current = None;
                pending_adj = Some(pending_adj.map_or(c, |p| refine(p, c)));
                // "cruise and ballistic missiles": the first adjective gets its own phrase.
                if words.get(i + 1) == Some(&"and")
                    && toks
                        .get(i + 2)
                        .is_some_and(|n| matches!(lex(&n.lower), Some(Lex::ClassAdj(_))))
                {
                    let head_ahead = toks[i + 2..]
                        .iter()
                        .take(3)
                        .any(|n| matches!(lex(&n.lower), Some(Lex::Head(WeaponClass::Missile, _))));
                    if head_ahead {
                        mentions.push(Mention {
                            class: c,
                            models: Vec::new(),
                            count: None,
                            role: None,
                            rest: false,
                            fixed: false,
                            part: None,
                            start: t.start,
                            end: t.end,
                            tok_start: i,
                            tok_end: i + 1,
                        });
                        pending_adj = None;
                    }
                }
            }
            Some(Lex::Head(head_class, number)) => {
                let class = match (head_class, pending_adj) {
                    (WeaponClass::Missile, Some(a)) => a,
                    (WeaponClass::GuidedBomb, _) => WeaponClass::GuidedBomb,
                    (c, _) => c,
                };
                // "… Shahed, Гербера та дронами-імітаторами": decoys within the same count.
                let same_as_current = current.is_some_and(|c| {
                    class == WeaponClass::Drone
                        && mentions[c].class == class
                        && pending_num.is_none()
                        && !pending_article
                });
                if same_as_current {
                    if let Some(c) = current {
                        mentions[c].end = t.end;
                        mentions[c].tok_end = i + 1;
                    }
                } else {
                    // "a missile attack", "drone strikes": the weapon word qualifies another noun.
                    let qualifier = words.get(i + 1).is_some_and(|n| {
                        matches!(
                            *n,
                            "attack"
                                | "attacks"
                                | "strike"
                                | "strikes"
                                | "threat"
                                | "alert"
                                | "alerts"
                                | "defence"
                                | "defense"
                                | "system"
                                | "systems"
                                | "campaign"
                                | "production"
                                | "launcher"
                                | "launchers"
                                | "programme"
                                | "program"
                                | "debris"
                                | "fragments"
                                | "factory"
                                | "warfare"
                                | "units"
                                | "operators"
                                | "boats"
                        )
                    });
                    let count = if qualifier {
                        None
                    } else {
                        pending_num.or(match number {
                            Number::Singular if pending_article || !t.lower.is_ascii() => Some(1),
                            _ => None,
                        })
                    };
                    mentions.push(Mention {
                        class,
                        models: Vec::new(),
                        count,
                        role: None,
                        rest: pending_rest,
                        fixed: false,
                        part: pending_part.take(),
                        start: t.start,
                        end: t.end,
                        tok_start: i,
                        tok_end: i + 1,
                    });
                    // Genitive singular "ракети" counts one only in a hit clause: see
                    // `assign_roles`.
                    current = Some(mentions.len() - 1);
                }
                pending_num = None;
                pending_article = false;
                pending_adj = None;
                pending_rest = false;
            }
            Some(Lex::Model(name, mclass)) => {
                let attach = current.filter(|&c| {
                    let m = &mentions[c];
                    pending_num.is_none()
                        && (m.class == mclass
                            || (m.class.is_missile() && mclass.is_missile())
                            || (m.class == WeaponClass::Other && mclass == WeaponClass::Other))
                });
                match attach {
                    Some(c) => {
                        let m = &mut mentions[c];
                        m.class = if m.class.is_missile() && mclass.is_missile() {
                            refine(m.class, mclass)
                        } else {
                            m.class
                        };
                        // The S-400 used against the ground counts as ballistic even when called
                        // a SAM ("зенітними керованими ракетами С-400").
                        if mclass == WeaponClass::BallisticMissile {
                            m.class = WeaponClass::BallisticMissile;
                        }
                        for part in t.lower.split('/') {
                            if let Some((n, _)) = model_lex(part)
                                && !m.models.contains(&n)
                            {
                                m.models.push(n);
                            }
                        }
                        if !m.models.contains(&name) {
                            m.models.insert(0, name);
                            m.models.dedup();
                        }
                        m.end = t.end;
                        m.tok_end = i + 1;
                    }
                    None => {
                        let class = match pending_adj {
                            Some(a) if mclass.is_missile() => refine(a, mclass),
                            _ => mclass,
                        };
                        let mut models = Vec::new();
                        for part in t.lower.split('/') {
                            if let Some((n, _)) = model_lex(part)
                                && !models.contains(&n)
                            {
                                models.push(n);
                            }
                        }
                        mentions.push(Mention {
                            class,
                            models,
                            count: pending_num,
                            role: None,
                            rest: pending_rest,
                            fixed: false,
                            part: pending_part.take(),
                            start: t.start,
                            end: t.end,
                            tok_start: i,
                            tok_end: i + 1,
                        });
                        current = Some(mentions.len() - 1);
                    }
                }
                pending_num = None;
                pending_article = false;
                pending_adj = None;
                pending_rest = false;
            }
            None if t.lower == "the" && i > 0 && words[i - 1] == "of" => {
                // "two of the missiles": the count still belongs to the noun.
            }
            None => {
                // Connectives keep a list of models open; any other word closes the phrase.
                if !matches!(t.lower.as_str(), "та" | "і" | "й" | "and" | "or") {
                    current = None;
                }
                // A count applies only to a weapon word right after it (fillers aside).
                pending_num = None;
                pending_part = None;
                pending_article = false;
                pending_adj = None;
                pending_rest = false;
            }
        }
        i += 1;
    }
    // "56 of 90 drones": 90 were launched, 56 get the sentence's verb.
    let mut parts = Vec::new();
    for m in mentions.iter_mut() {
        if let Some((part, tok)) = m.part.take() {
            parts.push(Mention {
                count: Some(part),
                role: None,
                fixed: false,
                part: None,
                start: toks[tok].start,
                end: m.end,
                tok_start: tok,
                tok_end: m.tok_end,
                ..m.clone()
            });
            m.role = Some(CountRole::Launched);
            m.fixed = true;
        }
    }
    mentions.extend(parts);
    mentions.sort_by_key(|m| m.tok_start);
    assign_roles(toks, &mut mentions, &context);
    mentions
}

/// [`scan`] with no earlier sentence to refer back to.
pub fn scan(text: &str, toks: &[Tok]) -> Vec<Mention> {
    scan_in_context(text, toks, None)
}

/// A bare count with a verb and no weapon word ("while two left the airspace", "of which 30
/// were shot down") refers to the weapon named before it in the sentence.
fn elliptical(
    toks: &[Tok],
    mentions: &[Mention],
    context: &Option<(WeaponClass, Vec<&'static str>)>,
) -> Vec<Mention> {
    let mut out = Vec::new();
    let words: Vec<&str> = toks.iter().map(|t| t.lower.as_str()).collect();
    let mut i = 0;
    while i < toks.len() {
        if mentions
            .iter()
            .any(|m| (m.tok_start..m.tok_end).contains(&i))
        {
            i += 1;
            continue;
        }
        let prev_is_digit_context = i > 0 && toks[i - 1].kind == TokKind::Number;
        if toks[i].kind == TokKind::Clock || prev_is_digit_context {
            i += 1;
            continue;
        }
        let Some((v, used)) = parse_phrase(&words[i..]) else {
            i += 1;
            continue;
        };
        let mut j = i + used;
        while words
            .get(j)
            .is_some_and(|w| matches!(*w, "of" | "them" | "those") || is_verb_filler(w))
        {
            j += 1;
        }
        let verb = toks.get(j).map(|_| role_at(toks, j));
        let antecedent = mentions
            .iter()
            .rev()
            .find(|m| m.tok_end <= i)
            .map(|m| (m.class, m.models.clone()))
            .or_else(|| context.clone());
        if let Some(Some((role, _, _))) = verb
            && matches!(
                role,
                CountRole::Destroyed
                    | CountRole::Suppressed
                    | CountRole::LeftAirspace
                    | CountRole::Hit
            )
            && let Some((class, models)) = antecedent
        {
            out.push(Mention {
                class,
                models,
                count: Some(v),
                role: Some(role),
                rest: false,
                fixed: true,
                part: None,
                start: toks[i].start,
                end: toks[i + used - 1].end,
                tok_start: i,
                tok_end: i + used,
            });
        }
        i += used;
    }
    out
}

/// Words that may stand between a weapon phrase and the verb that gives it its role
/// ("were locationally lost", "did not reach", "не досягла цілі", quotes).
fn is_verb_filler(w: &str) -> bool {
    matches!(
        w,
        "were"
            | "was"
            | "have"
            | "has"
            | "had"
            | "been"
            | "not"
            | "did"
            | "failed"
            | "to"
            | "locationally"
            | "reportedly"
            | "also"
            | "then"
            | "all"
            | "successfully"
            | "не"
            | "in"
            | "цілі"
            | "цілей"
            | "своїх"
            | "'"
            | "‘"
            | "’"
            | "\""
            | "“"
            | "”"
    )
}

fn assign_roles(
    toks: &[Tok],
    mentions: &mut Vec<Mention>,
    context: &Option<(WeaponClass, Vec<&'static str>)>,
) {
    let mut keywords: Vec<(usize, CountRole, bool, usize)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if let Some((role, backward, len)) = role_at(toks, i) {
            keywords.push((i, role, backward, len));
            i += len;
        } else {
            i += 1;
        }
    }
    for m in mentions.iter_mut().filter(|m| !m.fixed) {
        // A passive verb right after the phrase ("were lost", "не досягла цілі") wins.
        let after = keywords.iter().find(|&&(k, _, back, _)| {
            back && k >= m.tok_end
                && k <= m.tok_end + 3
                && toks[m.tok_end..k].iter().all(|t| is_verb_filler(&t.lower))
        });
        if let Some(&(_, role, _, _)) = after {
            m.role = Some(role);
            continue;
        }
        // "Of the 188 drones, 76 were shot down": the whole is what was launched.
        let of_the = m.tok_start >= 3
            && toks[m.tok_start - 3].lower == "of"
            && toks[m.tok_start - 2].lower == "the"
            && m.count.is_some();
        if of_the {
            m.role = Some(CountRole::Launched);
            continue;
        }
        let before = keywords
            .iter()
            .rev()
            .find(|&&(k, _, back, _)| !back && k < m.tok_start);
        m.role = before.map(|&(_, r, _, _)| r);
        if m.role.is_none() {
            // "… 37 Russian drones launched in overnight attacks": a participle after.
            m.role = keywords
                .iter()
                .find(|&&(k, _, back, _)| !back && k >= m.tok_end)
                .map(|&(_, r, _, _)| r);
        }
    }
    // "ракети" after "влучання" is one missile (genitive singular).
    for m in mentions.iter_mut() {
        let w = toks[m.tok_start].lower.as_str();
        if m.count.is_none() && m.role == Some(CountRole::Hit) && w == "ракети" {
            let preceded_by_num = m.tok_start > 0 && toks[m.tok_start - 1].kind == TokKind::Number;
            if !preceded_by_num {
                m.count = Some(1);
            }
        }
    }
    let extra = elliptical(toks, mentions, context);
    mentions.extend(extra);
    mentions.sort_by_key(|m| m.tok_start);
}

#[cfg(test)]
#[path = "weapons_tests.rs"]
mod tests;

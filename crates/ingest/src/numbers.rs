//! Numerals as the texts write them: digits with thousands separators ("10,000", "1 200"),
//! English words ("two", "twenty-five", "a hundred"), and Ukrainian words in any case
//! ("двома", "шістьма", "однієї", "сто двадцять п'ять").
//!
//! Words that qualify a number ("more than", "about", "понад", "близько") are left to the caller:
//! "more than 200" counts as 200.

/// Folds apostrophe variants away and lower-cases, so "П’ять" and "п'ять" compare equal.
pub fn fold(word: &str) -> String {
    word.chars()
        .filter(|c| !matches!(c, '\'' | '’' | 'ʼ' | '`' | '‘'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Digits, optionally grouped in threes by `,` or a (narrow) space: "37", "10,000", "1 200".
pub fn parse_digits(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut value: u64 = 0;
    let mut group_len = 0usize;
    let mut grouped = false;
    for c in s.chars() {
        match c {
            '0'..='9' => {
                value = value * 10 + u64::from(c as u8 - b'0');
                group_len += 1;
                if value > u64::from(u32::MAX) {
                    return None;
                }
            }
            ',' | ' ' | '\u{a0}' | '\u{202f}' => {
                // A separator must split groups of exactly three digits ("2,000"), otherwise
                // it is a list ("2, 3") or a decimal comma.
                if grouped && group_len != 3 {
                    return None;
                }
                grouped = true;
                group_len = 0;
            }
            _ => return None,
        }
    }
    if grouped && group_len != 3 {
        return None;
    }
    u32::try_from(value).ok()
}

/// The value of one number word, and whether it multiplies (hundred, thousand) rather than adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Add(u32),
    Hundreds(u32),
    Thousand,
}

fn english(word: &str) -> Option<Part> {
    Some(Part::Add(match word {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        "hundred" => return Some(Part::Hundreds(1)),
        "thousand" => return Some(Part::Thousand),
        _ => return None,
    }))
}

const UK_UNITS: &[(&[&str], u32)] = &[
    (
        &[
            "один",
            "одна",
            "одне",
            "одного",
            "одної",
            "однієї",
            "одному",
            "одній",
            "одну",
            "одним",
            "однією",
            "одною",
            "одні",
            "одних",
            "одними",
        ],
        1,
    ),
    (&["два", "дві", "двох", "двом", "двома"], 2),
    (&["три", "трьох", "трьом", "трьома"], 3),
    (
        &["чотири", "чотирьох", "чотирьом", "чотирма", "чотирьома"],
        4,
    ),
    (
        &["пять", "пяти", "пятьох", "пятьом", "пятьма", "пятьома"],
        5,
    ),
    (
        &[
            "шість",
            "шести",
            "шістьох",
            "шістьом",
            "шістьма",
            "шістьома",
        ],
        6,
    ),
    (&["сім", "семи", "сімох", "сімом", "сьома", "сімома"], 7),
    (
        &[
            "вісім",
            "восьми",
            "вісьмох",
            "вісьмом",
            "вісьма",
            "вісьмома",
            "восьмома",
        ],
        8,
    ),
    (
        &[
            "девять",
            "девяти",
            "девятьох",
            "девятьом",
            "девятьма",
            "девятьома",
        ],
        9,
    ),
];

fn ukrainian(word: &str) -> Option<Part> {
    for (forms, v) in UK_UNITS {
        if forms.contains(&word) {
            return Some(Part::Add(*v));
        }
    }
    const TEENS: &[(&str, u32)] = &[
        ("одинадця", 11),
        ("дванадця", 12),
        ("тринадця", 13),
        ("чотирнадця", 14),
        ("пятнадця", 15),
        ("шістнадця", 16),
        ("сімнадця", 17),
        ("вісімнадця", 18),
        ("девятнадця", 19),
    ];
    const CASE_ENDINGS: &[&str] = &["ть", "ти", "тьма", "тьома", "тьох", "тьом"];
    let stem_with = |stem: &str| {
        CASE_ENDINGS.iter().any(|e| {
            word.len() == stem.len() + e.len() && word.starts_with(stem) && word.ends_with(e)
        })
    };
    for (stem, v) in TEENS {
        if stem_with(stem) {
            return Some(Part::Add(*v));
        }
    }
    const TENS: &[(&str, u32)] = &[
        ("двадця", 20),
        ("тридця", 30),
        ("пятдеся", 50),
        ("шістдеся", 60),
        ("сімдеся", 70),
        ("вісімдеся", 80),
        ("деся", 10),
    ];
    for (stem, v) in TENS {
        if stem_with(stem) {
            return Some(Part::Add(*v));
        }
    }
    Some(match word {
        "сорок" | "сорока" => Part::Add(40),
        "девяносто" | "девяноста" => Part::Add(90),
        "сто" | "ста" | "стом" => Part::Add(100),
        "двісті" | "двохсот" | "двомстам" | "двомастами" => {
            Part::Add(200)
        }
        "триста" | "трьохсот" | "трьомстам" | "трьомастами" => {
            Part::Add(300)
        }
        "чотириста" | "чотирьохсот" | "чотирьомстам" | "чотирмастами" => {
            Part::Add(400)
        }
        "пятсот" | "пятисот" | "пятистам" | "пятьмастами" => {
            Part::Add(500)
        }
        "шістсот" | "шестисот" | "шестистам" | "шістьмастами" => {
            Part::Add(600)
        }
        "сімсот" | "семисот" | "семистам" | "сімомастами" => {
            Part::Add(700)
        }
        "вісімсот" | "восьмисот" | "восьмистам" | "вісьмомастами" => {
            Part::Add(800)
        }
        "девятсот" | "девятисот" | "девятистам" | "девятьмастами" => {
            Part::Add(900)
        }
        "тисяча" | "тисячі" | "тисяч" | "тисячу" | "тисячею" | "тисячами" => {
            Part::Thousand
        }
        _ => return None,
    })
}

fn part(word: &str) -> Option<Part> {
    // Number words are short and start with one of a few letters: most words leave here.
    if word.len() > 48
        || !word
            .chars()
            .next()
            .is_some_and(|c| "otfsenhdaОДТЧПШСВодтчпшсв".contains(c) || "OTFSENHDA".contains(c))
    {
        return None;
    }
    if word
        .chars()
        .any(|c| c.is_uppercase() || matches!(c, '\'' | '’' | 'ʼ' | '`' | '‘'))
    {
        let w = fold(word);
        english(&w).or_else(|| ukrainian(&w))
    } else {
        english(word).or_else(|| ukrainian(word))
    }
}

/// Whether a single token is a number (digits or a number word).
pub fn is_number_word(word: &str) -> bool {
    parse_digits(word).is_some() || part(word).is_some() || split_hyphenated(word).is_some()
}

/// "twenty-five" → 25.
fn split_hyphenated(word: &str) -> Option<u32> {
    let (a, b) = word.split_once('-')?;
    match (part(a)?, part(b)?) {
        (Part::Add(x), Part::Add(y)) if x % 10 == 0 && x >= 20 && y < 10 => Some(x + y),
        _ => None,
    }
}

/// Reads a numeral starting at `words[0]`, possibly spread over several words
/// ("сто двадцять п'ять", "one hundred and twenty"). Returns the value and how many words it
/// used. "a hundred" / "a dozen" count; a bare "a" does not.
pub fn parse_phrase(words: &[&str]) -> Option<(u32, usize)> {
    let first = *words.first()?;
    if let Some(v) = parse_digits(first) {
        // "10 thousand", "1,5 тисячі" are rare; "2 thousand" is handled, decimals are not.
        if let Some(next) = words.get(1)
            && part(next) == Some(Part::Thousand)
        {
            return Some((v.saturating_mul(1000), 2));
        }
        return Some((v, 1));
    }
    let mut i = 0usize;
    if matches!(fold(first).as_str(), "a" | "an")
        && words.get(1).is_some_and(|w| {
            matches!(part(w), Some(Part::Hundreds(_) | Part::Thousand)) || fold(w) == "dozen"
        })
    {
        i = 1;
    }
    let mut total: u32 = 0;
    let mut current: u32 = 0;
    let mut used = 0usize;
    let mut seen_any = false;
    while let Some(w) = words.get(i) {
        let lw = fold(w);
        if seen_any && lw == "and" {
            // "one hundred and twenty": only continue when a number follows.
            if words.get(i + 1).is_some_and(|n| part(n).is_some()) {
                i += 1;
                continue;
            }
            break;
        }
        let p = match part(w) {
            Some(p) => p,
            None => match split_hyphenated(w) {
                Some(v) => Part::Add(v),
                None => break,
            },
        };
        match p {
            Part::Add(v) => current = current.saturating_add(v),
            Part::Hundreds(_) => current = current.max(1).saturating_mul(100),
            Part::Thousand => {
                total = total.saturating_add(current.max(1).saturating_mul(1000));
                current = 0;
            }
        }
        seen_any = true;
        i += 1;
        used = i;
    }
    if !seen_any {
        return None;
    }
    Some((total.saturating_add(current), used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase(s: &str) -> Option<u32> {
        let words: Vec<&str> = s.split_whitespace().collect();
        parse_phrase(&words).map(|(v, _)| v)
    }

    #[test]
    fn digits() {
        assert_eq!(parse_digits("37"), Some(37));
        assert_eq!(parse_digits("10,000"), Some(10_000));
        assert_eq!(parse_digits("1 200"), Some(1_200));
        assert_eq!(parse_digits("2,3"), None);
        assert_eq!(parse_digits("99999999999"), None);
        assert_eq!(parse_digits("x1"), None);
    }

    #[test]
    fn english_words() {
        assert_eq!(phrase("two"), Some(2));
        assert_eq!(phrase("twenty-five drones"), Some(25));
        assert_eq!(phrase("one hundred and twenty missiles"), Some(120));
        assert_eq!(phrase("a dozen"), Some(12));
        assert_eq!(phrase("a drone"), None);
        assert_eq!(phrase("two thousand"), Some(2000));
    }

    #[test]
    fn ukrainian_words() {
        assert_eq!(phrase("двома"), Some(2));
        assert_eq!(phrase("шістьма"), Some(6));
        assert_eq!(phrase("однієї"), Some(1));
        assert_eq!(phrase("сімома"), Some(7));
        assert_eq!(phrase("сто двадцять п’ять"), Some(125));
        assert_eq!(phrase("чотирнадцятьма"), Some(14));
        assert_eq!(phrase("двадцятьма трьома"), Some(23));
        assert_eq!(phrase("десять"), Some(10));
        assert_eq!(phrase("двісті"), Some(200));
    }
}

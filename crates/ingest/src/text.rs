//! Plain-text plumbing shared by the readers: sentence spans and masking of parenthetical
//! asides, both keeping byte offsets into the original text so evidence can point back at it.

/// The text with everything inside `( … )` replaced by spaces of the same byte length, so
/// asides such as "(14 із них — реактивні)" never yield counts while offsets stay valid.
pub fn mask_parentheses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                out.push(' ');
            }
            ')' if depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            '\n' => {
                // An unclosed aside ends with its line.
                depth = 0;
                out.push('\n');
            }
            _ if depth > 0 => out.extend(std::iter::repeat_n(' ', c.len_utf8())),
            _ => out.push(c),
        }
    }
    out
}

/// Byte spans of sentences: a line break ends one, and so does `.`, `!` or `?` followed by
/// whitespace and a capital letter, a digit, a quote or a bullet. Abbreviations such as
/// "обл. рф" or "рф., ТОТ" therefore do not split.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut k = 0;
    while k < chars.len() {
        let (i, c) = chars[k];
        let end_here = match c {
            '\n' => Some(i),
            '.' | '!' | '?' => {
                let mut j = k + 1;
                while chars
                    .get(j)
                    .is_some_and(|&(_, c)| matches!(c, '.' | '!' | '?' | '"' | '”' | '»'))
                {
                    j += 1;
                }
                let ws = chars.get(j).is_some_and(|&(_, c)| c.is_whitespace());
                let mut n = j;
                while chars.get(n).is_some_and(|&(_, c)| c == ' ' || c == '\t') {
                    n += 1;
                }
                let next_ok = chars.get(n).is_none_or(|&(_, c)| {
                    c.is_uppercase()
                        || c.is_ascii_digit()
                        || matches!(c, '“' | '"' | '«' | '-' | '–' | '•' | '\n')
                });
                if (ws || j >= chars.len()) && next_ok {
                    let e = chars.get(j).map_or(text.len(), |&(b, _)| b);
                    k = j.saturating_sub(1);
                    Some(e)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(e) = end_here {
            if !text[start..e].trim().is_empty() {
                out.push(trim_span(text, start, e));
            }
            start = e;
        }
        k += 1;
    }
    if !text[start..].trim().is_empty() {
        out.push(trim_span(text, start, text.len()));
    }
    out
}

fn trim_span(text: &str, s: usize, e: usize) -> (usize, usize) {
    let slice = &text[s..e];
    let lead = slice.len() - slice.trim_start().len();
    let trail = slice.len() - slice.trim_end().len();
    (s + lead, e - trail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_asides() {
        let t = "96 ударними БпЛА (понад 70 із них – реактивні). Далі";
        let m = mask_parentheses(t);
        assert_eq!(m.len(), t.len());
        assert!(!m.contains("70"));
        assert!(m.ends_with(". Далі"));
    }

    #[test]
    fn splits_sentences_but_not_abbreviations() {
        let t =
            "із Брянської обл. та 151 БпЛА – рф., ТОТ Донецьк. Повітряний напад відбивали.\nДалі";
        let s: Vec<&str> = sentences(t).into_iter().map(|(a, b)| &t[a..b]).collect();
        assert_eq!(
            s,
            vec![
                "із Брянської обл. та 151 БпЛА – рф., ТОТ Донецьк.",
                "Повітряний напад відбивали.",
                "Далі"
            ]
        );
    }
}

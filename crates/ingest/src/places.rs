//! Region mentions → registry ids. This module is the one place that knows how texts name
//! places: official names as the channel writes them ("м. Харків та Харківська територіальна
//! громада", hashtags "#Київська_область"), inflected and colloquial Ukrainian forms
//! ("Київській області", "Київщині"), English forms ("Kyiv region", "Kharkiv Oblast",
//! "the capital"), and the foreign places Air Force and news texts name.
//!
//! Longer than most files, on purpose: most of it is data (the inflected, colloquial, English
//! and foreign forms of place names, as tables), kept beside the lookup that reads it so that a
//! form and the rule that uses it are changed together; the tests are in `places_tests.rs`.
//!
//! The regions are the core's ([`Region`], from `Registry::embedded()` unless a caller passes
//! another); names are folded by the core's [`fold_name`] and split from their administrative
//! words by its [`normalise`], so a name the registry resolves reads the same here. Official
//! names are looked up through a [`RegionLookup`]: the core [`Registry`] is one, and
//! [`Gazetteer`] is an index over its regions for the forms the channel uses (city short names,
//! official names before aliases). What this module keeps as data is only how texts write
//! places, never a second list of regions.

use std::collections::HashMap;
use std::sync::LazyLock;

use tryvoga_core::names::{fold_name, normalise};
use tryvoga_core::region::{Level, Region, RegionId, Registry, ResolveError};
use tryvoga_core::report::{NamedRegion, TargetRegion};

/// Where region names are resolved. Implemented by the core [`Registry`] and by [`Gazetteer`].
pub trait RegionLookup {
    fn place(&self, id: u32) -> Option<&Region>;
    /// Every region whose official name (Ukrainian or English, any alias) matches `name`
    /// after normalisation (case, apostrophes, `_`/`-`/`.` and the administrative words).
    fn find(&self, name: &str) -> Vec<&Region>;
}

impl<T: RegionLookup + ?Sized> RegionLookup for &T {
    fn place(&self, id: u32) -> Option<&Region> {
        (**self).place(id)
    }
    fn find(&self, name: &str) -> Vec<&Region> {
        (**self).find(name)
    }
}

/// The core registry can be passed directly; [`Gazetteer::from_registry`] over it reads more of
/// the forms the channel uses (city short names, official names before aliases).
impl RegionLookup for Registry {
    fn place(&self, id: u32) -> Option<&Region> {
        self.get(RegionId(id))
    }

    fn find(&self, name: &str) -> Vec<&Region> {
        match self.resolve(name) {
            Ok(r) => vec![r],
            Err(ResolveError::Ambiguous { candidates, .. }) => {
                candidates.iter().filter_map(|c| self.get(c.id)).collect()
            }
            Err(ResolveError::Unknown { .. }) => Vec::new(),
        }
    }
}

/// A region as the texts' readers name it: its registry id and Ukrainian name.
pub fn named(region: &Region) -> NamedRegion {
    NamedRegion {
        id: Some(region.id.0),
        name: region.name_uk.clone(),
    }
}

/// Resolves a name to one region, using `oblast` to choose between same-named hromadas.
pub fn resolve<'r>(
    lookup: &'r dyn RegionLookup,
    name: &str,
    oblast: Option<u32>,
) -> Option<&'r Region> {
    let mut found = lookup.find(name);
    if found.len() > 1
        && let Some(o) = oblast
    {
        found.retain(|p| p.oblast.0 == o);
    }
    if found.len() == 1 { found.pop() } else { None }
}

/// English names of top-level units as the texts (and so the readers' reports) spell them
/// where the registry spells them otherwise (it has "Zaporizhia Oblast"). Each is also an
/// alias the [`Gazetteer`] knows.
const EN_SPELLINGS: &[(u32, &str)] = &[(12, "Zaporizhzhia Oblast")];

/// A name index over regions.
#[derive(Debug, Clone, Default)]
pub struct Gazetteer {
    regions: Vec<Region>,
    by_id: HashMap<u32, usize>,
    /// Official names only: an alias must not shadow another region's official name
    /// (the registry lists "Первомайська територіальна громада" as an alias of the city
    /// hromada of Первомайськ, while a hromada of that very name exists in the same oblast).
    by_primary: HashMap<String, Vec<usize>>,
    by_full: HashMap<String, Vec<usize>>,
    by_bare: HashMap<String, Vec<usize>>,
}

static EMBEDDED: LazyLock<Gazetteer> =
    LazyLock::new(|| Gazetteer::from_registry(Registry::embedded()));

fn push_unique(e: &mut Vec<usize>, idx: usize) {
    if !e.contains(&idx) {
        e.push(idx);
    }
}

impl Gazetteer {
    /// The project's registry (`data/regions.json`, embedded in `tryvoga-core`), indexed for the
    /// forms the texts use.
    pub fn embedded() -> &'static Gazetteer {
        &EMBEDDED
    }

    /// Every region of a registry, with its aliases, plus the texts' English spellings.
    pub fn from_registry(registry: &Registry) -> Self {
        let mut g = Gazetteer::default();
        for r in registry.regions() {
            g.add(r.clone());
            for a in &r.aliases {
                g.alias(r.id.0, a);
            }
        }
        g.add_spellings();
        g
    }

    /// Only the 27 top-level units of the embedded registry, by their official names; enough
    /// for news and Air Force summaries.
    pub fn top_level() -> Self {
        let mut g = Gazetteer::default();
        for r in Registry::embedded().oblasts() {
            g.add(r.clone());
        }
        g.add_spellings();
        g
    }

    fn add_spellings(&mut self) {
        for &(id, name) in EN_SPELLINGS {
            self.alias(id, name);
        }
    }

    /// Adds a region under its official names (Ukrainian and English).
    pub fn add(&mut self, region: Region) {
        let idx = self.regions.len();
        self.by_id.insert(region.id.0, idx);
        let names = [region.name_uk.clone(), region.name_en.clone()];
        self.regions.push(region);
        for n in names {
            push_unique(self.by_primary.entry(fold_name(&n)).or_default(), idx);
            self.index(idx, &n);
        }
    }

    /// Another name for a known region.
    pub fn alias(&mut self, id: u32, name: &str) {
        if name.is_empty() {
            return;
        }
        if let Some(&idx) = self.by_id.get(&id) {
            self.index(idx, name);
        }
    }

    fn index(&mut self, idx: usize, name: &str) {
        let n = normalise(name);
        if n.full.is_empty() {
            return;
        }
        // "м. Херсон та Херсонська територіальна громада" is also written "м. Херсон", "Херсон".
        if let Some(city) = n
            .full
            .strip_prefix("м ")
            .or_else(|| n.full.strip_prefix("m "))
            && let Some((city, _)) = city.split_once(" та ").or_else(|| city.split_once(" ta "))
        {
            for key in [city.to_string(), format!("м {city}")] {
                push_unique(self.by_full.entry(key).or_default(), idx);
            }
        }
        push_unique(self.by_full.entry(n.full).or_default(), idx);
        if !n.bare.is_empty() {
            push_unique(self.by_bare.entry(n.bare).or_default(), idx);
        }
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

impl RegionLookup for Gazetteer {
    fn place(&self, id: u32) -> Option<&Region> {
        self.by_id.get(&id).map(|&i| &self.regions[i])
    }

    fn find(&self, name: &str) -> Vec<&Region> {
        let n = normalise(name);
        if let Some(ix) = self
            .by_primary
            .get(&n.full)
            .or_else(|| self.by_full.get(&n.full))
        {
            return ix.iter().map(|&i| &self.regions[i]).collect();
        }
        let Some(ix) = self.by_bare.get(&n.bare) else {
            return Vec::new();
        };
        ix.iter()
            .map(|&i| &self.regions[i])
            .filter(|p| n.level_hint.is_none_or(|h| h.admits(p.level)))
            .collect()
    }
}

/// Ukrainian forms of the top-level units: the adjective stem used with "область" in any case
/// ("Київськ|а/ій/ої/у області"), and the colloquial "-щина" name in any case.
const UK_FORMS: &[(u32, &str, &[&str])] = &[
    (3, "хмельницьк", &["хмельниччин"]),
    (4, "вінницьк", &["вінниччин"]),
    (5, "рівненськ", &["рівненщин"]),
    (8, "волинськ", &["волинь", "волині", "волинню"]),
    (9, "дніпропетровськ", &["дніпропетровщин", "дніпровщин"]),
    (10, "житомирськ", &["житомирщин"]),
    (11, "закарпатськ", &["закарпатт"]),
    (12, "запорізьк", &["запоріжж"]),
    (13, "івано франківськ", &["прикарпатт", "івано франківщин"]),
    (14, "київськ", &["київщин"]),
    (15, "кіровоградськ", &["кіровоградщин"]),
    (16, "луганськ", &["луганщин"]),
    (17, "миколаївськ", &["миколаївщин"]),
    (18, "одеськ", &["одещин"]),
    (19, "полтавськ", &["полтавщин"]),
    (20, "сумськ", &["сумщин"]),
    (21, "тернопільськ", &["тернопільщин"]),
    (22, "харківськ", &["харківщин"]),
    (23, "херсонськ", &["херсонщин"]),
    (24, "черкаськ", &["черкащин"]),
    (25, "чернігівськ", &["чернігівщин"]),
    (26, "чернівецьк", &["буковин"]),
    (27, "львівськ", &["львівщин"]),
    (28, "донецьк", &["донеччин"]),
    (29, "кримськ", &["крим"]),
];

/// Ukrainian city names (nominative and locative) that stand for their region in summaries.
const UK_CITIES: &[(u32, &[&str])] = &[
    (
        31,
        &["київ", "києві", "києва", "столиці", "столиця", "столицю"],
    ),
    (22, &["харків", "харкові", "харкова"]),
    (18, &["одеса", "одесі", "одеси", "одесу"]),
    (9, &["дніпро", "дніпрі", "дніпра"]),
    (12, &["запоріжжя", "запоріжжі"]),
];

/// A Ukrainian top-level unit named in free Ukrainian text: "Київщина", "Одещині",
/// "Київській області", "Харківська обл.", "столиці". Returns the id and the byte span.
pub fn uk_oblast_mentions(text: &str) -> Vec<(usize, usize, u32)> {
    let words = word_spans(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (s, e) = words[i];
        let w = fold_name(&text[s..e]);
        let next = words.get(i + 1).map(|&(a, b)| fold_name(&text[a..b]));
        let mut hit = None;
        for &(id, stem, colloquial) in UK_FORMS {
            if colloquial.iter().any(|c| w.starts_with(c)) && !w.starts_with("кримськ") {
                hit = Some((id, 1));
                break;
            }
            // "Київська область", "Київській обл."
            if w.starts_with(stem)
                && w.len() <= stem.len() + 4
                && next
                    .as_deref()
                    .is_some_and(|n| n.starts_with("област") || n == "обл")
            {
                hit = Some((id, 2));
                break;
            }
        }
        if hit.is_none() {
            for &(id, forms) in UK_CITIES {
                if forms.contains(&w.as_str()) {
                    hit = Some((id, 1));
                    break;
                }
            }
        }
        if let Some((id, n)) = hit {
            let end = words[(i + n - 1).min(words.len() - 1)].1;
            out.push((s, end, id));
            i += n;
        } else {
            i += 1;
        }
    }
    out
}

/// Byte spans of words (letters, digits, apostrophes and inner hyphens).
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut last_end = 0;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
            last_end = i + c.len_utf8();
        } else if matches!(c, '\'' | '’' | '-') && start.is_some() {
            // Inside a word ("Куп’янськ", "Ivano-Frankivsk"); a trailing one is dropped.
        } else if let Some(s) = start.take()
            && last_end > s
        {
            out.push((s, last_end));
        }
    }
    if let Some(s) = start
        && last_end > s
    {
        out.push((s, last_end));
    }
    out
}

/// English names of the top-level units (lower-case). The first is the city or short name;
/// "Kyiv" alone means the city (31), "Kyiv region" the oblast (14).
const EN_NAMES: &[(u32, &[&str])] = &[
    (3, &["khmelnytskyi", "khmelnytsky", "khmelnitsky"]),
    (4, &["vinnytsia", "vinnytsya", "vinnitsa"]),
    (5, &["rivne", "rovno"]),
    (8, &["volyn", "volhynia", "lutsk"]),
    (9, &["dnipropetrovsk", "dnipro", "dnepropetrovsk"]),
    (10, &["zhytomyr", "zhitomir"]),
    (
        11,
        &["zakarpattia", "transcarpathia", "zakarpattya", "uzhhorod"],
    ),
    (
        12,
        &["zaporizhzhia", "zaporizhia", "zaporizhzhya", "zaporozhye"],
    ),
    (13, &["ivano-frankivsk"]),
    (15, &["kirovohrad", "kropyvnytskyi"]),
    (16, &["luhansk", "lugansk"]),
    (17, &["mykolaiv", "mykolayiv", "nikolaev"]),
    (18, &["odesa", "odessa"]),
    (19, &["poltava"]),
    (20, &["sumy"]),
    (21, &["ternopil"]),
    (22, &["kharkiv", "kharkov"]),
    (23, &["kherson"]),
    (24, &["cherkasy", "cherkassy"]),
    (25, &["chernihiv", "chernigov"]),
    (26, &["chernivtsi"]),
    (27, &["lviv", "lvov"]),
    (28, &["donetsk"]),
    (29, &["crimea"]),
    (30, &["sevastopol"]),
    (31, &["kyiv", "kiev"]),
];

/// Cities and towns news name instead of their oblast; several words are joined by a space.
const EN_TOWNS: &[(&str, u32)] = &[
    ("kryvyi rih", 9),
    ("kryvyi", 9),
    ("pavlohrad", 9),
    ("nikopol", 9),
    ("kamianske", 9),
    ("kremenchuk", 19),
    ("bila tserkva", 14),
    ("brovary", 14),
    ("irpin", 14),
    ("bucha", 14),
    ("boryspil", 14),
    ("uman", 24),
    ("izmail", 18),
    ("kramatorsk", 28),
    ("sloviansk", 28),
    ("pokrovsk", 28),
    ("kostiantynivka", 28),
    ("mariupol", 28),
    ("bakhmut", 28),
    ("kupiansk", 22),
    ("izium", 22),
    ("chuhuiv", 22),
    ("melitopol", 12),
    ("berdiansk", 12),
    ("enerhodar", 12),
    ("nova kakhovka", 23),
    ("kropyvnytskyi", 15),
    ("burshtyn", 13),
    ("kalush", 13),
    ("konotop", 20),
    ("shostka", 20),
    ("okhtyrka", 20),
    ("nizhyn", 25),
    ("pryluky", 25),
    ("starokostiantyniv", 3),
    ("shepetivka", 3),
    ("kovel", 8),
    ("lutsk", 8),
    ("uzhhorod", 11),
    ("mukachevo", 11),
    ("drohobych", 27),
    ("stryi", 27),
    ("berdychiv", 10),
    ("korosten", 10),
    ("ochakiv", 17),
    ("pervomaisk", 17),
    ("voznesensk", 17),
];

/// Foreign regions and places the texts name as launch areas or targets.
const FOREIGN: &[(&str, &str, &str)] = &[
    ("kursk", "Kursk", "RU"),
    ("belgorod", "Belgorod", "RU"),
    ("bryansk", "Bryansk", "RU"),
    ("voronezh", "Voronezh", "RU"),
    ("rostov", "Rostov", "RU"),
    ("krasnodar", "Krasnodar", "RU"),
    ("oryol", "Oryol", "RU"),
    ("orel", "Oryol", "RU"),
    ("moscow", "Moscow", "RU"),
    ("tula", "Tula", "RU"),
    ("kaluga", "Kaluga", "RU"),
    ("lipetsk", "Lipetsk", "RU"),
    ("tambov", "Tambov", "RU"),
    ("smolensk", "Smolensk", "RU"),
    ("pskov", "Pskov", "RU"),
    ("ryazan", "Ryazan", "RU"),
    ("saratov", "Saratov", "RU"),
    ("tatarstan", "Tatarstan", "RU"),
    ("novorossiysk", "Novorossiysk", "RU"),
    ("leningrad", "Leningrad", "RU"),
    ("volgograd", "Volgograd", "RU"),
    ("samara", "Samara", "RU"),
    ("yaroslavl", "Yaroslavl", "RU"),
    ("tver", "Tver", "RU"),
    ("penza", "Penza", "RU"),
    ("ulyanovsk", "Ulyanovsk", "RU"),
    ("astrakhan", "Astrakhan", "RU"),
    ("bashkortostan", "Bashkortostan", "RU"),
    ("chechnya", "Chechnya", "RU"),
    ("dagestan", "Dagestan", "RU"),
    ("stavropol", "Stavropol", "RU"),
    ("orenburg", "Orenburg", "RU"),
    ("perm", "Perm", "RU"),
    ("tuapse", "Tuapse", "RU"),
    ("sochi", "Sochi", "RU"),
    ("engels", "Engels", "RU"),
    ("taganrog", "Taganrog", "RU"),
    ("yeysk", "Yeysk", "RU"),
    ("millerovo", "Millerovo", "RU"),
    ("kaliningrad", "Kaliningrad", "RU"),
    ("murmansk", "Murmansk", "RU"),
    ("novgorod", "Novgorod", "RU"),
    ("ivanovo", "Ivanovo", "RU"),
    ("primorsko-akhtarsk", "Primorsko-Akhtarsk", "RU"),
    ("shatalovo", "Shatalovo", "RU"),
    ("gomel", "Gomel", "BY"),
    ("homel", "Gomel", "BY"),
];

/// A place named in English text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnMention {
    pub start: usize,
    pub end: usize,
    pub region: TargetRegion,
}

fn ua_target(id: u32) -> TargetRegion {
    TargetRegion {
        id: Some(id),
        name: en_name(id),
        country: "UA".to_string(),
    }
}

/// English name of a top-level unit, as the readers' reports give it: the registry's, unless
/// the texts spell it otherwise ([`EN_SPELLINGS`]); empty for an id that is not a top-level unit.
pub fn en_name(id: u32) -> String {
    if let Some(&(_, name)) = EN_SPELLINGS.iter().find(|(i, _)| *i == id) {
        return name.to_string();
    }
    Registry::embedded()
        .get(RegionId(id))
        .filter(|r| r.level == Level::Oblast)
        .map(|r| r.name_en.clone())
        .unwrap_or_default()
}

fn is_region_word(w: &str) -> bool {
    matches!(
        w,
        "region" | "regions" | "oblast" | "oblasts" | "province" | "provinces" | "area"
    )
}

/// Places named in English text, in order. Uses capitalisation: "kyiv" in a URL or
/// lower-case prose is not a mention. Metonymic uses of the capital ("Kyiv said",
/// "Kyiv's war effort") are skipped.
pub fn en_mentions(text: &str) -> Vec<EnMention> {
    let words = word_spans(text);
    let lower: Vec<String> = words
        .iter()
        .map(|&(s, e)| text[s..e].to_lowercase().replace('’', "'"))
        .collect();
    let mut out: Vec<EnMention> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (s, e) = words[i];
        let w = lower[i].trim_end_matches("'s");
        let capitalised = text[s..].starts_with(|c: char| c.is_uppercase());
        let next = lower.get(i + 1).map(String::as_str);
        if w == "capital"
            && i > 0
            && matches!(lower[i - 1].as_str(), "the" | "ukrainian")
            && text[s..].starts_with('c')
        {
            out.push(EnMention {
                start: words[i - 1].0,
                end: e,
                region: ua_target(31),
            });
            i += 1;
            continue;
        }
        if !capitalised {
            i += 1;
            continue;
        }
        let two = next.map(|n| format!("{w} {}", n.trim_end_matches("'s")));
        if let Some((_, id)) = EN_TOWNS
            .iter()
            .find(|(k, _)| Some(*k) == two.as_deref() || *k == w)
        {
            let span = if two
                .as_deref()
                .is_some_and(|t| EN_TOWNS.iter().any(|(k, _)| *k == t))
            {
                2
            } else {
                1
            };
            out.push(EnMention {
                start: s,
                end: words[i + span - 1].1,
                region: ua_target(*id),
            });
            i += span;
            continue;
        }
        let ua = EN_NAMES
            .iter()
            .find(|(_, names)| names.contains(&w))
            .map(|(id, _)| *id);
        if let Some(mut id) = ua {
            let possessive = lower[i].ends_with("'s");
            let with_region = next.is_some_and(is_region_word) && !possessive;
            let followed_by_city = next == Some("city");
            if id == 31 && with_region {
                id = 14;
            }
            // "Kyiv said", "Kyiv’s war effort": the government, not the place.
            let metonymy = id == 31
                && !with_region
                && !followed_by_city
                && (possessive
                    || next.is_some_and(|n| {
                        matches!(
                            n,
                            "said"
                                | "says"
                                | "has"
                                | "had"
                                | "will"
                                | "would"
                                | "is"
                                | "was"
                                | "claimed"
                                | "claims"
                                | "warned"
                                | "accused"
                                | "wants"
                        )
                    }));
            if metonymy && !followed_by_way(&lower, i) {
                i += 1;
                continue;
            }
            let end = if with_region || followed_by_city {
                words[i + 1].1
            } else {
                e
            };
            out.push(EnMention {
                start: s,
                end,
                region: ua_target(id),
            });
            i += if with_region || followed_by_city {
                2
            } else {
                1
            };
            continue;
        }
        // "Engels" the town, not "Engels Street"; a person's first name followed by a surname.
        let next_capitalised = words
            .get(i + 1)
            .is_some_and(|&(a, _)| text[a..].starts_with(|c: char| c.is_uppercase()))
            && !next.is_some_and(is_region_word)
            && text[e..words.get(i + 1).map_or(e, |w| w.0)]
                .trim()
                .is_empty();
        if let Some((_, name, cc)) = FOREIGN.iter().find(|(k, _, _)| *k == w)
            && !next_capitalised
        {
            let end = if next.is_some_and(is_region_word) {
                words[i + 1].1
            } else {
                e
            };
            out.push(EnMention {
                start: s,
                end,
                region: TargetRegion {
                    id: None,
                    name: name.to_string(),
                    country: cc.to_string(),
                },
            });
        }
        i += 1;
    }
    distribute_plural_regions(text, &words, &lower, &mut out);
    out
}

/// "headed Kyiv's way": the place, despite the possessive.
fn followed_by_way(lower: &[String], i: usize) -> bool {
    lower.get(i + 1).is_some_and(|n| n == "way")
}

/// "Kyiv and Kharkiv regions": the plural region word makes every directly coordinated name an
/// oblast, so the first "Kyiv" is the oblast, not the city. An article stops the distribution
/// ("Kyiv, the Kyiv region, Odesa and the Donetsk regions" keeps the city).
fn distribute_plural_regions(
    text: &str,
    words: &[(usize, usize)],
    lower: &[String],
    out: &mut [EnMention],
) {
    for (wi, w) in lower.iter().enumerate() {
        if !matches!(w.as_str(), "regions" | "oblasts" | "provinces") || wi == 0 {
            continue;
        }
        let mut j = wi - 1;
        loop {
            let (s, _) = words[j];
            let Some(m) = out.iter_mut().find(|m| m.start == s) else {
                break;
            };
            if m.region.id == Some(31) {
                m.region = ua_target(14);
            }
            // Walk back over ", " or " and ".
            if j == 0 {
                break;
            }
            let prev = &lower[j - 1];
            if prev == "and" && j >= 2 {
                j -= 2;
            } else {
                let between = &text[words[j - 1].1..s];
                if between.trim() == "," {
                    j -= 1;
                } else {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "places_tests.rs"]
mod tests;

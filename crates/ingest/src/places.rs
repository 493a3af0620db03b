//! Region mentions → registry ids. This module is the one place that knows how texts name
//! places: official names as the channel writes them ("м. Харків та Харківська територіальна
//! громада", hashtags "#Київська_область"), inflected and colloquial Ukrainian forms
//! ("Київській області", "Київщині"), English forms ("Kyiv region", "Kharkiv Oblast",
//! "the capital"), and the foreign places Air Force and news texts name.
//!
//! Official names are resolved through a [`RegionLookup`]. [`Gazetteer`] is this crate's own
//! implementation: it embeds the 27 top-level units and can be filled from the region-id
//! crosswalk (hromadas and raions) until the core registry is wired in.

use std::collections::HashMap;
use std::sync::LazyLock;

use tryvoga_core::region::{Level as CoreLevel, Region, RegionId, Registry, ResolveError};
use tryvoga_core::report::{NamedRegion, TargetRegion};

use crate::numbers::fold;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Oblast,
    Raion,
    Hromada,
}

/// A registry region as the readers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub id: u32,
    pub level: Level,
    pub parent: Option<u32>,
    /// The top-level unit (oblast, Crimea, Kyiv, Sevastopol) the region lies in.
    pub oblast: u32,
    pub name_uk: String,
    pub name_en: String,
}

impl Place {
    pub fn to_ref_uk(&self) -> NamedRegion {
        NamedRegion {
            id: Some(self.id),
            name: self.name_uk.clone(),
        }
    }

    pub fn to_ref_en(&self) -> NamedRegion {
        NamedRegion {
            id: Some(self.id),
            name: self.name_en.clone(),
        }
    }
}

/// Where region names are resolved. Implemented by [`Gazetteer`]; the core registry can
/// implement it too.
pub trait RegionLookup {
    fn place(&self, id: u32) -> Option<Place>;
    /// Every region whose official name (Ukrainian or English, any alias) matches `name`
    /// after normalisation (case, apostrophes, `_`/`-`/`.` and the administrative words).
    fn find(&self, name: &str) -> Vec<Place>;
}

impl<T: RegionLookup + ?Sized> RegionLookup for &T {
    fn place(&self, id: u32) -> Option<Place> {
        (**self).place(id)
    }
    fn find(&self, name: &str) -> Vec<Place> {
        (**self).find(name)
    }
}

fn from_core(r: &Region) -> Place {
    Place {
        id: r.id.0,
        level: match r.level {
            CoreLevel::Oblast => Level::Oblast,
            CoreLevel::Raion => Level::Raion,
            CoreLevel::Hromada => Level::Hromada,
        },
        parent: r.parent.map(|p| p.0),
        oblast: r.oblast.0,
        name_uk: r.name_uk.clone(),
        name_en: r.name_en.clone(),
    }
}

/// The core registry can be passed directly; [`Gazetteer::from_registry`] over it reads more of
/// the forms the channel uses (city short names, official names before aliases).
impl RegionLookup for Registry {
    fn place(&self, id: u32) -> Option<Place> {
        self.get(RegionId(id)).map(from_core)
    }

    fn find(&self, name: &str) -> Vec<Place> {
        match self.resolve(name) {
            Ok(r) => vec![from_core(r)],
            Err(ResolveError::Ambiguous { candidates, .. }) => candidates
                .iter()
                .filter_map(|c| self.get(c.id))
                .map(from_core)
                .collect(),
            Err(ResolveError::Unknown { .. }) => Vec::new(),
        }
    }
}

/// Resolves a name to one region, using `oblast` to choose between same-named hromadas.
pub fn resolve(lookup: &dyn RegionLookup, name: &str, oblast: Option<u32>) -> Option<Place> {
    let mut found = lookup.find(name);
    if found.len() > 1
        && let Some(o) = oblast
    {
        found.retain(|p| p.oblast == o);
    }
    if found.len() == 1 { found.pop() } else { None }
}

/// Lower-case words separated by single spaces; apostrophes dropped; `_ - . , ( ) «»` and the
/// like become spaces, so hashtags and official names compare equal.
pub fn normalise(name: &str) -> String {
    let folded = fold(name.trim().trim_start_matches('#'));
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

const ADMIN_WORDS: &[&str] = &[
    "область",
    "обл",
    "oblast",
    "region",
    "район",
    "raion",
    "district",
    "територіальна",
    "громада",
    "тг",
    "hromada",
    "terytorialna",
    "м",
    "city",
];

fn bare(normalised: &str) -> String {
    normalised
        .split(' ')
        .filter(|w| !ADMIN_WORDS.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn level_hint(normalised: &str) -> Option<Level> {
    for w in normalised.split(' ') {
        match w {
            "область" | "обл" | "oblast" | "region" => return Some(Level::Oblast),
            "район" | "raion" | "district" => return Some(Level::Raion),
            "громада" | "hromada" => return Some(Level::Hromada),
            _ => {}
        }
    }
    None
}

/// A name index over regions.
#[derive(Debug, Clone, Default)]
pub struct Gazetteer {
    places: Vec<Place>,
    by_id: HashMap<u32, usize>,
    /// Official names only: an alias must not shadow another region's official name
    /// (the registry lists "Первомайська територіальна громада" as an alias of the city
    /// hromada of Первомайськ, while a hromada of that very name exists in the same oblast).
    by_primary: HashMap<String, Vec<usize>>,
    by_full: HashMap<String, Vec<usize>>,
    by_bare: HashMap<String, Vec<usize>>,
}

/// The 27 top-level units: id (air-alert system), Ukrainian name, English name.
pub const TOP_LEVEL: &[(u32, &str, &str)] = &[
    (3, "Хмельницька область", "Khmelnytskyi Oblast"),
    (4, "Вінницька область", "Vinnytsia Oblast"),
    (5, "Рівненська область", "Rivne Oblast"),
    (8, "Волинська область", "Volyn Oblast"),
    (9, "Дніпропетровська область", "Dnipropetrovsk Oblast"),
    (10, "Житомирська область", "Zhytomyr Oblast"),
    (11, "Закарпатська область", "Zakarpattia Oblast"),
    (12, "Запорізька область", "Zaporizhzhia Oblast"),
    (13, "Івано-Франківська область", "Ivano-Frankivsk Oblast"),
    (14, "Київська область", "Kyiv Oblast"),
    (15, "Кіровоградська область", "Kirovohrad Oblast"),
    (16, "Луганська область", "Luhansk Oblast"),
    (17, "Миколаївська область", "Mykolaiv Oblast"),
    (18, "Одеська область", "Odesa Oblast"),
    (19, "Полтавська область", "Poltava Oblast"),
    (20, "Сумська область", "Sumy Oblast"),
    (21, "Тернопільська область", "Ternopil Oblast"),
    (22, "Харківська область", "Kharkiv Oblast"),
    (23, "Херсонська область", "Kherson Oblast"),
    (24, "Черкаська область", "Cherkasy Oblast"),
    (25, "Чернігівська область", "Chernihiv Oblast"),
    (26, "Чернівецька область", "Chernivtsi Oblast"),
    (27, "Львівська область", "Lviv Oblast"),
    (28, "Донецька область", "Donetsk Oblast"),
    (
        29,
        "Автономна Республіка Крим",
        "Autonomous Republic of Crimea",
    ),
    (30, "м. Севастополь", "Sevastopol"),
    (31, "м. Київ", "Kyiv"),
];

static EMBEDDED: LazyLock<Gazetteer> =
    LazyLock::new(|| Gazetteer::from_registry(Registry::embedded()));

impl Gazetteer {
    /// The project's registry (`data/regions.json`, embedded in `tryvoga-core`), indexed for the
    /// forms the texts use.
    pub fn embedded() -> &'static Gazetteer {
        &EMBEDDED
    }

    /// Every region of a registry, with its aliases, plus the top-level English short names.
    pub fn from_registry(registry: &Registry) -> Self {
        let mut g = Gazetteer::default();
        for r in registry.regions() {
            g.add(from_core(r));
            for a in &r.aliases {
                g.alias(r.id.0, a);
            }
        }
        for &(id, uk, en) in TOP_LEVEL {
            g.alias(id, uk);
            g.alias(id, en);
        }
        g
    }

    /// Only the 27 top-level units; enough for news and Air Force summaries.
    pub fn top_level() -> Self {
        let mut g = Gazetteer::default();
        for &(id, uk, en) in TOP_LEVEL {
            g.add(Place {
                id,
                level: Level::Oblast,
                parent: None,
                oblast: id,
                name_uk: uk.to_string(),
                name_en: en.to_string(),
            });
        }
        g
    }

    /// The top-level units plus every row of `region_ids_crosswalk.csv`
    /// (`id,level,name_uk_states_json,name_uk_alerts_in_ua,name_en_translit,parent_id,oblast_id,...`).
    /// Rows that do not parse are skipped.
    pub fn from_crosswalk_csv(csv: &str) -> Self {
        let mut g = Gazetteer::top_level();
        for line in csv.lines().skip(1) {
            let cols: Vec<&str> = line.split(',').collect();
            if cols.len() < 7 {
                continue;
            }
            let Ok(id) = cols[0].parse::<u32>() else {
                continue;
            };
            let level = match cols[1] {
                "oblast" => Level::Oblast,
                "raion" => Level::Raion,
                "hromada" => Level::Hromada,
                _ => continue,
            };
            let parent = cols[5].parse::<u32>().ok();
            let oblast = cols[6].parse::<u32>().unwrap_or(id);
            let name_uk = if cols[2].is_empty() { cols[3] } else { cols[2] };
            if g.by_id.contains_key(&id) {
                g.alias(id, name_uk);
                g.alias(id, cols[3]);
                g.alias(id, cols[4]);
                continue;
            }
            g.add(Place {
                id,
                level,
                parent,
                oblast,
                name_uk: name_uk.to_string(),
                name_en: cols[4].to_string(),
            });
            g.alias(id, cols[3]);
        }
        g
    }

    pub fn add(&mut self, place: Place) {
        let idx = self.places.len();
        self.by_id.insert(place.id, idx);
        let names = [place.name_uk.clone(), place.name_en.clone()];
        self.places.push(place);
        for n in names {
            let e = self.by_primary.entry(normalise(&n)).or_default();
            if !e.contains(&idx) {
                e.push(idx);
            }
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
        let full = normalise(name);
        if full.is_empty() {
            return;
        }
        // "м. Херсон та Херсонська територіальна громада" is also written "м. Херсон", "Херсон".
        if let Some(city) = full.strip_prefix("м ").or_else(|| full.strip_prefix("m "))
            && let Some((city, _)) = city.split_once(" та ").or_else(|| city.split_once(" ta "))
        {
            for key in [city.to_string(), format!("м {city}")] {
                let e = self.by_full.entry(key).or_default();
                if !e.contains(&idx) {
                    e.push(idx);
                }
            }
        }
        let b = bare(&full);
        let e = self.by_full.entry(full).or_default();
        if !e.contains(&idx) {
            e.push(idx);
        }
        if !b.is_empty() {
            let e = self.by_bare.entry(b).or_default();
            if !e.contains(&idx) {
                e.push(idx);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }
}

impl RegionLookup for Gazetteer {
    fn place(&self, id: u32) -> Option<Place> {
        self.by_id.get(&id).map(|&i| self.places[i].clone())
    }

    fn find(&self, name: &str) -> Vec<Place> {
        let full = normalise(name);
        if let Some(ix) = self
            .by_primary
            .get(&full)
            .or_else(|| self.by_full.get(&full))
        {
            return ix.iter().map(|&i| self.places[i].clone()).collect();
        }
        let hint = level_hint(&full);
        let b = bare(&full);
        let Some(ix) = self.by_bare.get(&b) else {
            return Vec::new();
        };
        ix.iter()
            .map(|&i| &self.places[i])
            .filter(|p| hint.is_none_or(|h| h == p.level))
            .cloned()
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
        let w = normalise(&text[s..e]);
        let next = words.get(i + 1).map(|&(a, b)| normalise(&text[a..b]));
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
    let name = TOP_LEVEL
        .iter()
        .find(|t| t.0 == id)
        .map(|t| t.2)
        .unwrap_or("");
    TargetRegion {
        id: Some(id),
        name: name.to_string(),
        country: "UA".to_string(),
    }
}

/// English name of a top-level unit.
pub fn en_name(id: u32) -> String {
    ua_target(id).name
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
mod tests {
    use super::*;

    #[test]
    fn normalises_hashtags_and_names() {
        assert_eq!(normalise("#Київська_область"), "київська область");
        assert_eq!(
            normalise("Куп’янський район"),
            normalise("#Купянський_район")
        );
        assert_eq!(
            normalise("м. Харків та Харківська територіальна громада"),
            normalise("#м_Харків_та_Харківська_територіальна_громада")
        );
    }

    #[test]
    fn top_level_resolves_official_and_bare_names() {
        let g = Gazetteer::top_level();
        assert_eq!(
            resolve(&g, "Київська область", None).map(|p| p.id),
            Some(14)
        );
        assert_eq!(
            resolve(&g, "#Київська_область", None).map(|p| p.id),
            Some(14)
        );
        assert_eq!(resolve(&g, "м. Київ", None).map(|p| p.id), Some(31));
        assert_eq!(resolve(&g, "Kharkiv Oblast", None).map(|p| p.id), Some(22));
        assert!(resolve(&g, "Нарнія", None).is_none());
    }

    #[test]
    fn the_core_registry_is_a_lookup_too() {
        let r = Registry::embedded();
        assert_eq!(resolve(r, "Київська область", None).map(|p| p.id), Some(14));
        assert_eq!(r.place(31).map(|p| p.oblast), Some(31));
        assert!(r.find("Нарнія").is_empty());
    }

    #[test]
    fn ukrainian_colloquial_forms() {
        let ids = |t: &str| {
            uk_oblast_mentions(t)
                .into_iter()
                .map(|m| m.2)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids("Основні напрямки удару - Одещина, Київщина."),
            vec![18, 14]
        );
        assert_eq!(ids("у Харківській області та на Сумщині"), vec![22, 20]);
        assert_eq!(ids("Більшість дронів у бік столиці"), vec![31]);
    }

    #[test]
    fn english_forms() {
        let ids = |t: &str| {
            en_mentions(t)
                .into_iter()
                .map(|m| m.region.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(
                "restrictions would apply to Kyiv, the Kyiv region, Odesa, Dnipro and the Donetsk regions."
            ),
            vec![Some(31), Some(14), Some(18), Some(9), Some(28)]
        );
        assert_eq!(ids("Kyiv and Kharkiv regions"), vec![Some(14), Some(22)]);
        assert_eq!(ids("Kyiv said the attack on Sumy"), vec![Some(20)]);
        assert_eq!(ids("stationed in Kursk"), vec![None]);
    }
}

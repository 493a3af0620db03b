//! The regions registry: every oblast, raion and hromada with its ids, names and place in the
//! hierarchy, and the resolution of whatever a person or a client calls a region.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::names::{LevelHint, normalise};

/// The official air-alert-system id of a region (ukrainealarm `regionId`, alerts.in.ua
/// `location_uid` for oblasts and raions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegionId(pub u32);

impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Level {
    Oblast,
    Raion,
    Hromada,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Oblast => "oblast",
            Level::Raion => "raion",
            Level::Hromada => "hromada",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Region {
    pub id: RegionId,
    pub level: Level,
    pub parent: Option<RegionId>,
    pub oblast: RegionId,
    pub name_uk: String,
    pub name_en: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub katottg: Option<String>,
    pub iso: Option<String>,
    pub alerts_in_ua_uid: Option<u32>,
    pub ukrainealarm_id: Option<u32>,
    #[serde(default)]
    pub synthetic_id: bool,
}

/// The compact form of a region embedded in alerts and events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegionRef {
    pub id: RegionId,
    pub level: Level,
    pub name_uk: String,
    pub name_en: String,
    pub oblast_id: RegionId,
}

impl Region {
    pub fn to_ref(&self) -> RegionRef {
        RegionRef {
            id: self.id,
            level: self.level,
            name_uk: self.name_uk.clone(),
            name_en: self.name_en.clone(),
            oblast_id: self.oblast,
        }
    }
}

/// A region that a name could have meant, offered when a name is unknown or ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    pub id: RegionId,
    pub level: Level,
    pub name_uk: String,
    pub name_en: String,
    pub oblast: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no region is called {input:?}")]
    Unknown {
        input: String,
        candidates: Vec<Candidate>,
    },
    #[error("{input:?} could mean {} regions; name one by id", candidates.len())]
    Ambiguous {
        input: String,
        candidates: Vec<Candidate>,
    },
}

impl ResolveError {
    pub fn candidates(&self) -> &[Candidate] {
        match self {
            ResolveError::Unknown { candidates, .. }
            | ResolveError::Ambiguous { candidates, .. } => candidates,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("regions file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("region {id}: {problem}")]
    Inconsistent { id: RegionId, problem: String },
}

#[derive(Deserialize)]
struct RegistryFile {
    regions: Vec<Region>,
    #[serde(default)]
    oblast_order: Vec<u32>,
}

/// All regions, indexed for lookup by id, code and name.
#[derive(Debug)]
pub struct Registry {
    regions: Vec<Region>,
    by_id: HashMap<RegionId, usize>,
    children: HashMap<RegionId, Vec<RegionId>>,
    by_code: HashMap<String, usize>,
    by_ukrainealarm: HashMap<u32, usize>,
    by_full_name: HashMap<String, Vec<usize>>,
    by_bare_name: HashMap<String, Vec<usize>>,
    oblast_order: Vec<RegionId>,
}

static EMBEDDED_JSON: &str = include_str!("../../../data/regions.json");

static EMBEDDED: LazyLock<Registry> = LazyLock::new(|| {
    // The embedded file is checked by a test at build time, so failing here is a build defect.
    Registry::from_json(EMBEDDED_JSON).expect("embedded data/regions.json is valid")
});

impl Registry {
    /// The registry compiled into the binary from `data/regions.json`.
    pub fn embedded() -> &'static Registry {
        &EMBEDDED
    }

    pub fn from_json(json: &str) -> Result<Registry, RegistryError> {
        let file: RegistryFile = serde_json::from_str(json)?;
        Registry::new(
            file.regions,
            file.oblast_order.into_iter().map(RegionId).collect(),
        )
    }

    pub fn new(
        regions: Vec<Region>,
        oblast_order: Vec<RegionId>,
    ) -> Result<Registry, RegistryError> {
        let mut by_id = HashMap::with_capacity(regions.len());
        for (i, r) in regions.iter().enumerate() {
            if by_id.insert(r.id, i).is_some() {
                return Err(RegistryError::Inconsistent {
                    id: r.id,
                    problem: "id appears twice".into(),
                });
            }
        }
        let mut children: HashMap<RegionId, Vec<RegionId>> = HashMap::new();
        let mut by_code = HashMap::new();
        let mut by_ukrainealarm = HashMap::new();
        let mut by_full_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_bare_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in regions.iter().enumerate() {
            if let Some(p) = r.parent {
                if !by_id.contains_key(&p) {
                    return Err(RegistryError::Inconsistent {
                        id: r.id,
                        problem: format!("parent {p} does not exist"),
                    });
                }
                children.entry(p).or_default().push(r.id);
            }
            if !by_id.contains_key(&r.oblast) {
                return Err(RegistryError::Inconsistent {
                    id: r.id,
                    problem: format!("oblast {} does not exist", r.oblast),
                });
            }
            for code in r.katottg.iter().chain(r.iso.iter()) {
                by_code.insert(code.to_uppercase(), i);
            }
            if let Some(u) = r.ukrainealarm_id {
                by_ukrainealarm.insert(u, i);
            }
            let names = [&r.name_uk, &r.name_en].into_iter().chain(r.aliases.iter());
            for name in names {
                let n = normalise(name);
                push_unique(by_full_name.entry(n.full).or_default(), i);
                if !n.bare.is_empty() {
                    push_unique(by_bare_name.entry(n.bare).or_default(), i);
                }
            }
        }
        Ok(Registry {
            regions,
            by_id,
            children,
            by_code,
            by_ukrainealarm,
            by_full_name,
            by_bare_name,
            oblast_order,
        })
    }

    pub fn get(&self, id: RegionId) -> Option<&Region> {
        self.by_id.get(&id).map(|&i| &self.regions[i])
    }

    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.regions.iter()
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    pub fn oblasts(&self) -> impl Iterator<Item = &Region> {
        self.regions.iter().filter(|r| r.level == Level::Oblast)
    }

    /// The 27 top-level units in the order alerts.in.ua's IoT string uses.
    pub fn oblast_order(&self) -> &[RegionId] {
        &self.oblast_order
    }

    pub fn children(&self, id: RegionId) -> &[RegionId] {
        self.children.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The region's parent, grandparent, ... up to its oblast (the region itself excluded).
    pub fn ancestors(&self, id: RegionId) -> impl Iterator<Item = RegionId> + '_ {
        let mut next = self.get(id).and_then(|r| r.parent);
        std::iter::from_fn(move || {
            let current = next?;
            next = self.get(current).and_then(|r| r.parent);
            Some(current)
        })
    }

    /// Every region below `id`, depth first (the region itself excluded).
    pub fn descendants(&self, id: RegionId) -> Vec<RegionId> {
        let mut out = Vec::new();
        let mut stack: Vec<RegionId> = self.children(id).iter().rev().copied().collect();
        while let Some(r) = stack.pop() {
            out.push(r);
            stack.extend(self.children(r).iter().rev().copied());
        }
        out
    }

    /// Whether `id` is `ancestor` or lies below it.
    pub fn is_within(&self, id: RegionId, ancestor: RegionId) -> bool {
        id == ancestor || self.ancestors(id).any(|a| a == ancestor)
    }

    /// Whether two regions overlap: one contains the other.
    pub fn related(&self, a: RegionId, b: RegionId) -> bool {
        self.is_within(a, b) || self.is_within(b, a)
    }

    /// Resolves an id (number, also ukrainealarm's), a KATOTTG or ISO 3166-2 code, or a name in
    /// Ukrainian or English.
    pub fn resolve(&self, input: &str) -> Result<&Region, ResolveError> {
        self.resolve_within(input, None)
    }

    /// As [`Registry::resolve`], but names are looked for only at or below `within`: hromada names
    /// repeat across the country and are unique only inside their oblast or raion.
    pub fn resolve_within(
        &self,
        input: &str,
        within: Option<RegionId>,
    ) -> Result<&Region, ResolveError> {
        let trimmed = input.trim();
        if let Ok(n) = trimmed.parse::<u32>() {
            if let Some(r) = self.get(RegionId(n)) {
                return Ok(r);
            }
            if let Some(&i) = self.by_ukrainealarm.get(&n) {
                return Ok(&self.regions[i]);
            }
            return Err(ResolveError::Unknown {
                input: trimmed.to_string(),
                candidates: Vec::new(),
            });
        }
        if let Some(&i) = self.by_code.get(&trimmed.to_uppercase()) {
            return Ok(&self.regions[i]);
        }
        let name = normalise(trimmed);
        let inside = |i: &usize| within.is_none_or(|w| self.is_within(self.regions[*i].id, w));
        let admitted = |i: &usize| {
            name.level_hint
                .is_none_or(|h| h.admits(self.regions[*i].level))
        };

        let exact: Vec<usize> = self
            .by_full_name
            .get(&name.full)
            .map(|v| v.iter().copied().filter(inside).collect())
            .unwrap_or_default();
        if exact.len() == 1 {
            return Ok(&self.regions[exact[0]]);
        }
        let bare: Vec<usize> = if exact.is_empty() {
            self.by_bare_name
                .get(&name.bare)
                .map(|v| v.iter().copied().filter(inside).filter(admitted).collect())
                .unwrap_or_default()
        } else {
            exact
        };
        match bare.len() {
            1 => Ok(&self.regions[bare[0]]),
            0 => Err(ResolveError::Unknown {
                input: trimmed.to_string(),
                candidates: self.suggest(&name.bare, name.level_hint, within),
            }),
            _ => Err(ResolveError::Ambiguous {
                input: trimmed.to_string(),
                candidates: bare
                    .iter()
                    .map(|&i| self.candidate(&self.regions[i]))
                    .collect(),
            }),
        }
    }

    fn candidate(&self, r: &Region) -> Candidate {
        Candidate {
            id: r.id,
            level: r.level,
            name_uk: r.name_uk.clone(),
            name_en: r.name_en.clone(),
            oblast: self
                .get(r.oblast)
                .map(|o| o.name_uk.clone())
                .unwrap_or_default(),
        }
    }

    /// Up to eight regions whose names are closest to `bare`: those it is a prefix of first,
    /// then by edit distance.
    fn suggest(
        &self,
        bare: &str,
        hint: Option<LevelHint>,
        within: Option<RegionId>,
    ) -> Vec<Candidate> {
        if bare.is_empty() {
            return Vec::new();
        }
        let limit = (bare.chars().count() / 3).max(2);
        let mut scored: Vec<(usize, usize)> = Vec::new();
        for (name, indices) in &self.by_bare_name {
            let score = if name.starts_with(bare) {
                0
            } else {
                let d = strsim::levenshtein(name, bare);
                if d > limit {
                    continue;
                }
                d
            };
            for &i in indices {
                let r = &self.regions[i];
                if hint.is_some_and(|h| !h.admits(r.level))
                    || within.is_some_and(|w| !self.is_within(r.id, w))
                {
                    continue;
                }
                scored.push((score, i));
            }
        }
        scored.sort_by_key(|&(score, i)| (score, self.regions[i].level, self.regions[i].id));
        scored.dedup_by_key(|&mut (_, i)| i);
        let mut seen = Vec::new();
        scored
            .into_iter()
            .filter(|&(_, i)| {
                let fresh = !seen.contains(&i);
                seen.push(i);
                fresh
            })
            .take(8)
            .map(|(_, i)| self.candidate(&self.regions[i]))
            .collect()
    }
}

fn push_unique(v: &mut Vec<usize>, i: usize) {
    if !v.contains(&i) {
        v.push(i);
    }
}

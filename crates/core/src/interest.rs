//! What a subscriber wants to hear about: regions (each matching itself, its ancestors and its
//! descendants, as an alert on an oblast concerns its hromadas and the reverse) and alert
//! types. Decided per event by two set look-ups, so a filter costs the same whether it names
//! one region or fifty; every output that filters (streams, webhooks) uses this one.

use std::collections::HashSet;

use crate::alert::AlertType;
use crate::region::{RegionId, Registry};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interest {
    /// Every region whose events match: the named regions, their ancestors and descendants.
    regions: Option<HashSet<RegionId>>,
    types: Option<HashSet<AlertType>>,
}

impl Interest {
    /// `None` for either: everything.
    pub fn new(
        registry: &Registry,
        regions: Option<Vec<RegionId>>,
        types: Option<Vec<AlertType>>,
    ) -> Interest {
        let regions = regions.map(|rs| {
            let mut set = HashSet::new();
            for r in rs {
                set.insert(r);
                set.extend(registry.ancestors(r));
                set.extend(registry.descendants(r));
            }
            set
        });
        Interest {
            regions,
            types: types.map(|t| t.into_iter().collect()),
        }
    }

    /// Whether an event about `region` and of `alert_type` is wanted; an event without a
    /// region or a type is not filtered out by that part.
    pub fn wants(&self, region: Option<RegionId>, alert_type: Option<AlertType>) -> bool {
        let region_ok = match (&self.regions, region) {
            (Some(set), Some(r)) => set.contains(&r),
            _ => true,
        };
        let type_ok = match (&self.types, alert_type) {
            (Some(set), Some(t)) => set.contains(&t),
            _ => true,
        };
        region_ok && type_ok
    }

    /// As [`Interest::wants`], for an event about several regions (a threat's `from` and
    /// `towards`, a pre-alert's regions): wanted when any of them is. An empty list is not
    /// filtered out by region.
    pub fn wants_any(&self, regions: &[RegionId], alert_type: Option<AlertType>) -> bool {
        if regions.is_empty() {
            return self.wants(None, alert_type);
        }
        regions.iter().any(|&r| self.wants(Some(r), alert_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_matches_its_ancestors_and_descendants_and_types_narrow() {
        let registry = Registry::embedded();
        let kyiv_oblast = registry.resolve("Київська область").unwrap().id;
        let bucha = registry.resolve("Бучанський район").unwrap().id;
        let lviv = registry.resolve("Львівська область").unwrap().id;
        let i = Interest::new(registry, Some(vec![bucha]), Some(vec![AlertType::AirRaid]));
        assert!(i.wants(Some(kyiv_oblast), Some(AlertType::AirRaid)));
        assert!(i.wants(Some(bucha), None));
        assert!(!i.wants(Some(lviv), Some(AlertType::AirRaid)));
        assert!(!i.wants(Some(bucha), Some(AlertType::Chemical)));
        assert!(Interest::default().wants(Some(lviv), Some(AlertType::Nuclear)));
        assert!(i.wants_any(&[lviv, kyiv_oblast], None));
        assert!(!i.wants_any(&[lviv], None));
        assert!(i.wants_any(&[], None));
    }
}

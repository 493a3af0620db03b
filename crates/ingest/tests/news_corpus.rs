//! The two captures of one live blog against their `expected.json` (scored as tuples: every
//! count, class, region and power region; a region group `[31, 14]` accepts either id;
//! `optional_*` may or may not appear), and both captures read together giving one attack.

mod common;

use std::collections::BTreeSet;

use serde_json::Value;
use tryvoga_ingest::model::Extraction;
use tryvoga_ingest::news::{read_news, read_news_documents};

fn doc(name: &str) -> String {
    common::read_shared(&format!("corpus/news/{name}.txt"))
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&common::read_shared(&format!(
        "corpus/news/{name}.expected.json"
    )))
    .expect("expected.json parses")
}

fn strs(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn groups(v: &Value) -> Vec<Vec<u64>> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|g| {
                    g.as_array()
                        .map(|g| g.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every predicted id falls in exactly one group, every group is hit once.
fn check_groups(what: &str, predicted: &[u64], expected: &[Vec<u64>], optional: &[Vec<u64>]) {
    let mut hit = vec![0usize; expected.len()];
    for id in predicted {
        if let Some(g) = expected.iter().position(|g| g.contains(id)) {
            hit[g] += 1;
        } else {
            assert!(
                optional.iter().any(|g| g.contains(id)),
                "{what}: unexpected region {id}; predicted {predicted:?}"
            );
        }
    }
    for (g, n) in expected.iter().zip(&hit) {
        assert_eq!(
            *n, 1,
            "{what}: group {g:?} matched {n} times; predicted {predicted:?}"
        );
    }
}

fn score(ex: &Extraction, exp: &Value) {
    let attacks: BTreeSet<(String, String)> = ex
        .reports
        .iter()
        .map(|r| (r.attacker.clone(), r.target.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = exp["attacks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a[0].as_str()?.to_string(), a[1].as_str()?.to_string())))
        .collect();
    assert_eq!(attacks, want, "attacks");
    assert_eq!(
        ex.reports.len(),
        want.len(),
        "one report per attack: {:#?}",
        ex.reports
    );
    let r = &ex.reports[0];

    // Counts: every expected figure present, no figure that is not expected.
    let counts = exp["counts"].as_object().cloned().unwrap_or_default();
    for w in &r.weapons {
        let class = w.class.map(|c| c.as_str()).unwrap_or("?");
        for (field, v) in [
            ("launched", w.launched),
            ("destroyed", w.destroyed),
            ("suppressed", w.suppressed),
            ("left_airspace", w.left_airspace),
            ("hit", w.hit),
        ] {
            let want = counts
                .get(class)
                .and_then(|c| c.get(field))
                .and_then(Value::as_u64);
            assert_eq!(v.map(u64::from), want, "{class}.{field}");
        }
    }
    for (class, fields) in &counts {
        assert!(
            r.weapons
                .iter()
                .any(|w| w.class.map(|c| c.as_str()) == Some(class.as_str())),
            "missing class {class}"
        );
        for (field, v) in fields.as_object().into_iter().flatten() {
            assert!(v.is_u64(), "{class}.{field}");
        }
    }
    let classes: BTreeSet<String> = r
        .weapons
        .iter()
        .filter_map(|w| w.class.map(|c| c.as_str().to_string()))
        .collect();
    let need = strs(&exp["classes"]);
    let may: BTreeSet<String> = need
        .union(&strs(&exp["optional_classes"]))
        .cloned()
        .collect();
    assert!(
        need.is_subset(&classes),
        "classes {classes:?} lack some of {need:?}"
    );
    assert!(
        classes.is_subset(&may),
        "classes {classes:?} beyond {may:?}"
    );

    let ids: Vec<u64> = r
        .regions
        .iter()
        .filter_map(|x| x.id.map(u64::from))
        .collect();
    check_groups(
        "regions",
        &ids,
        &groups(&exp["regions"]),
        &groups(&exp["optional_regions"]),
    );
    assert!(
        r.regions.iter().all(|x| x.id.is_some()),
        "foreign region in an attack on UA: {:?}",
        r.regions
    );

    let infra: BTreeSet<String> = r
        .infrastructure
        .iter()
        .filter_map(|k| {
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
        })
        .collect();
    let need = strs(&exp["infrastructure"]);
    let may: BTreeSet<String> = need
        .union(&strs(&exp["optional_infrastructure"]))
        .cloned()
        .collect();
    assert!(
        need.is_subset(&infra) && infra.is_subset(&may),
        "infrastructure {infra:?}"
    );

    let power: Vec<u64> = ex
        .power
        .iter()
        .flat_map(|p| p.regions.iter().filter_map(|x| x.id.map(u64::from)))
        .collect();
    check_groups("power", &power, &groups(&exp["power_regions"]), &[]);
}

#[test]
fn capture_a() {
    let ex = read_news(&doc("liveblog-2024-11-13-a"), common::gazetteer());
    println!("{}", serde_json::to_string_pretty(&ex).unwrap_or_default());
    score(&ex, &expected("liveblog-2024-11-13-a"));
    assert!(ex.power.is_empty());
}

#[test]
fn capture_b() {
    let ex = read_news(&doc("liveblog-2024-11-13-b"), common::gazetteer());
    println!("{}", serde_json::to_string_pretty(&ex).unwrap_or_default());
    score(&ex, &expected("liveblog-2024-11-13-b"));
    assert_eq!(ex.power.len(), 1);
    assert_eq!(ex.power[0].consumers, vec!["business".to_string()]);
}

#[test]
fn both_captures_give_one_attack() {
    let a = doc("liveblog-2024-11-13-a");
    let b = doc("liveblog-2024-11-13-b");
    let ex = read_news_documents(&[&a, &b], common::gazetteer());
    assert_eq!(ex.reports.len(), 1, "{:#?}", ex.reports);
    // The later capture adds only the power restrictions.
    score(&ex, &expected("liveblog-2024-11-13-b"));
}

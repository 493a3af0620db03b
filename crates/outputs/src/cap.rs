//! CAP 1.2 (OASIS Common Alerting Protocol) messages for every alert start, update, end and
//! cancellation, and an Atom feed of the current ones as aggregators read CAP feeds, as pure
//! functions of the events (the API serves them at `/api/v1/alerts/{id}.cap` and
//! `/feeds/cap.atom`).
//!
//! Each event of an alert is one message, identified by `tryvoga-<key id>-<seq>`: `alert.started`
//! is `Alert`; `alert.updated` is `Update`; `alert.ended` is `Update` with the `AllClear`
//! response and urgency `Past`; `alert.cancelled` (a false alarm) is `Cancel` with the reason
//! in `<note>`. Every later message lists the earlier ones in `<references>`. `status` is the
//! alert's (`Actual`, `Exercise`, `Test`), `scope` is `Public`, and there is one `<info>` in
//! Ukrainian and one in English. The `<area>` of an oblast-level alert carries the oblast's
//! polygon (from `data/oblasts.geojson`, as "lat,lon" pairs, closed); every area carries its
//! KATOTTG code and, for oblasts, its ISO 3166-2 code as geocodes. Messages are signed as
//! [`crate::signing`] describes.

use std::collections::HashMap;
use std::io;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::BytesText;
use tryvoga_core::{Alert, AlertLevel, AlertStatus, AlertType, Event, EventBody, Level, Registry};

use crate::signing::EventKey;

const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
pub const CAP_TYPE: &str = "application/cap+xml";
/// How long an ended alert stays in the feed, so that aggregators see its all-clear.
pub const ENDED_IN_FEED_MS: i64 = 60 * 60 * 1000;

/// The signed `<alert>` element for the last of `events`, referring to those before it.
pub fn signed_message(
    key: &EventKey,
    registry: &Registry,
    sender: &str,
    events: &[Event],
) -> io::Result<String> {
    let xml = message_xml(registry, sender, &key.key_id, events)?;
    Ok(key.sign_cap(&xml))
}

/// A whole CAP document: the XML declaration and the signed message.
pub fn document(
    key: &EventKey,
    registry: &Registry,
    sender: &str,
    events: &[Event],
) -> io::Result<String> {
    let signed = signed_message(key, registry, sender, events)?;
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{signed}\n"
    ))
}

fn identifier(key_id: &str, seq: u64) -> String {
    format!("tryvoga-{key_id}-{seq}")
}

/// CAP's date-time: seconds, and an explicit offset rather than `Z`.
fn cap_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

struct Words {
    event: [&'static str; 2],
    category: &'static str,
}

fn words(t: AlertType) -> Words {
    match t {
        AlertType::AirRaid => Words {
            event: ["Повітряна тривога", "Air raid alert"],
            category: "Security",
        },
        AlertType::ArtilleryShelling => Words {
            event: ["Загроза артобстрілу", "Artillery shelling threat"],
            category: "Security",
        },
        AlertType::UrbanFights => Words {
            event: ["Загроза вуличних боїв", "Urban fighting threat"],
            category: "Security",
        },
        AlertType::Chemical => Words {
            event: ["Хімічна загроза", "Chemical threat"],
            category: "CBRNE",
        },
        AlertType::Nuclear => Words {
            event: ["Радіаційна загроза", "Nuclear threat"],
            category: "CBRNE",
        },
    }
}

/// XML 1.0 cannot carry most control characters, even escaped.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

fn text(w: &mut Writer<Vec<u8>>, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&clean(value)))?;
    Ok(())
}

fn pair(w: &mut Writer<Vec<u8>>, name: &str, key: &str, value: &str) -> io::Result<()> {
    w.create_element(name).write_inner_content(|w| {
        text(w, "valueName", key)?;
        text(w, "value", value)
    })?;
    Ok(())
}

/// The unsigned `<alert>` element for the last of `events`.
pub fn message_xml(
    registry: &Registry,
    sender: &str,
    key_id: &str,
    events: &[Event],
) -> io::Result<String> {
    let Some((last, earlier)) = events.split_last() else {
        return Err(io::Error::other("no events"));
    };
    let Some(alert) = last.body.alert() else {
        return Err(io::Error::other("not an alert event"));
    };
    let (msg_type, over) = match &last.body {
        EventBody::AlertStarted { .. } => ("Alert", false),
        EventBody::AlertCancelled { .. } => ("Cancel", true),
        EventBody::AlertEnded { .. } => ("Update", true),
        _ => ("Update", false),
    };
    let status = match alert.status {
        AlertStatus::Actual => "Actual",
        AlertStatus::Exercise => "Exercise",
        AlertStatus::Test => "Test",
    };
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.create_element("alert")
        .with_attribute(("xmlns", CAP_NS))
        .write_inner_content(|w| {
            text(w, "identifier", &identifier(key_id, last.seq))?;
            text(w, "sender", sender)?;
            text(w, "sent", &cap_time(last.at))?;
            text(w, "status", status)?;
            text(w, "msgType", msg_type)?;
            text(w, "scope", "Public")?;
            if let EventBody::AlertCancelled { alert } = &last.body {
                let reason = alert.cancel_reason.as_deref().unwrap_or("false alarm");
                text(w, "note", &format!("Скасовано / Cancelled: {reason}"))?;
            }
            if !earlier.is_empty() {
                let refs: Vec<String> = earlier
                    .iter()
                    .map(|e| format!("{sender},{},{}", identifier(key_id, e.seq), cap_time(e.at)))
                    .collect();
                text(w, "references", &refs.join(" "))?;
            }
            text(
                w,
                "incidents",
                &format!("tryvoga-{key_id}-alert-{}", alert.id.0),
            )?;
            for lang in [Lang::Uk, Lang::En] {
                info(w, registry, alert, last, lang, over)?;
            }
            Ok(())
        })?;
    String::from_utf8(w.into_inner()).map_err(io::Error::other)
}

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    Uk,
    En,
}

fn info(
    w: &mut Writer<Vec<u8>>,
    registry: &Registry,
    alert: &Alert,
    event: &Event,
    lang: Lang,
    over: bool,
) -> io::Result<()> {
    let uk = lang == Lang::Uk;
    let wording = words(alert.alert_type);
    let name = if uk {
        &alert.region.name_uk
    } else {
        &alert.region.name_en
    };
    let event_name = wording.event[usize::from(!uk)];
    let cancelled = matches!(event.body, EventBody::AlertCancelled { .. });
    let headline = match (over, cancelled, uk) {
        (false, _, true) => format!("{event_name}: {name}"),
        (false, _, false) => format!("{event_name}: {name}"),
        (true, false, true) => format!("Відбій тривоги: {name}"),
        (true, false, false) => format!("All clear: {name}"),
        (true, true, true) => format!("Тривогу скасовано: {name}"),
        (true, true, false) => format!("Alert cancelled: {name}"),
    };
    let instruction = match (over, uk) {
        (false, true) => {
            "Негайно прямуйте до найближчого укриття й залишайтеся там до відбою тривоги."
        }
        (false, false) => "Go to the nearest shelter now and stay there until the all-clear.",
        (true, true) => "Небезпеку минуло; слідкуйте за наступними повідомленнями.",
        (true, false) => "The danger has passed; follow further messages.",
    };
    let mut description = headline.clone();
    if let Some(level) = alert.level {
        description.push_str(match (level, uk) {
            (AlertLevel::Red, true) => ". Рівень: червоний (ракети, балістика)",
            (AlertLevel::Red, false) => ". Level: red (missiles, ballistic)",
            (AlertLevel::Yellow, true) => ". Рівень: жовтий (дрони)",
            (AlertLevel::Yellow, false) => ". Level: yellow (drones)",
        });
    }
    if let Some(note) = alert.note.as_deref().filter(|n| !n.trim().is_empty()) {
        description.push_str(". ");
        description.push_str(note);
    }
    if let Some(reason) = alert.cancel_reason.as_deref().filter(|_| cancelled) {
        description.push_str(if uk {
            ". Причина: "
        } else {
            ". Reason: "
        });
        description.push_str(reason);
    }
    w.create_element("info").write_inner_content(|w| {
        text(w, "language", if uk { "uk-UA" } else { "en-US" })?;
        text(w, "category", wording.category)?;
        text(w, "event", event_name)?;
        text(w, "responseType", if over { "AllClear" } else { "Shelter" })?;
        text(w, "urgency", if over { "Past" } else { "Immediate" })?;
        let severity = if over {
            "Minor"
        } else if alert.level == Some(AlertLevel::Red) {
            "Extreme"
        } else {
            "Severe"
        };
        text(w, "severity", severity)?;
        text(w, "certainty", "Observed")?;
        pair(w, "eventCode", "tryvoga:type", alert.alert_type.as_str())?;
        text(w, "effective", &cap_time(event.at))?;
        text(w, "onset", &cap_time(alert.started_at))?;
        text(w, "senderName", if uk { "Тривога" } else { "Tryvoga" })?;
        text(w, "headline", &headline)?;
        text(w, "description", &description)?;
        text(w, "instruction", instruction)?;
        pair(w, "parameter", "tryvoga:alert_id", &alert.id.0.to_string())?;
        pair(w, "parameter", "tryvoga:seq", &event.seq.to_string())?;
        if let Some(level) = alert.level {
            pair(w, "parameter", "tryvoga:level", level.as_str())?;
        }
        area(w, registry, alert, name)
    })?;
    Ok(())
}

fn area(w: &mut Writer<Vec<u8>>, registry: &Registry, alert: &Alert, name: &str) -> io::Result<()> {
    let region = registry.get(alert.region.id);
    w.create_element("area").write_inner_content(|w| {
        text(w, "areaDesc", name)?;
        if alert.region.level == Level::Oblast
            && let Some(ring) = oblast_polygons().get(&alert.region.id.0)
        {
            text(w, "polygon", ring)?;
        }
        if let Some(code) = region.and_then(|r| r.katottg.as_deref()) {
            pair(w, "geocode", "KATOTTG", code)?;
        }
        if let Some(iso) = region.and_then(|r| r.iso.as_deref()) {
            pair(w, "geocode", "ISO3166-2", iso)?;
        }
        pair(
            w,
            "geocode",
            "tryvoga:region",
            &alert.region.id.0.to_string(),
        )
    })?;
    Ok(())
}

/// Oblast outlines by region id, as CAP polygons.
fn oblast_polygons() -> &'static HashMap<u32, String> {
    static POLYGONS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    POLYGONS.get_or_init(|| {
        parse_polygons(include_str!("../../../data/oblasts.geojson")).unwrap_or_default()
    })
}

fn parse_polygons(geojson: &str) -> Option<HashMap<u32, String>> {
    let doc: serde_json::Value = serde_json::from_str(geojson).ok()?;
    let mut out = HashMap::new();
    for feature in doc.get("features")?.as_array()? {
        let Some(id) = feature
            .pointer("/properties/id")
            .and_then(serde_json::Value::as_u64)
        else {
            continue;
        };
        // The outer ring; a multi-polygon's largest part would go here if the data had one.
        let Some(ring) = feature
            .pointer("/geometry/coordinates/0")
            .and_then(serde_json::Value::as_array)
        else {
            continue;
        };
        let mut points: Vec<(f64, f64)> = ring
            .iter()
            .filter_map(|p| Some((p.get(1)?.as_f64()?, p.get(0)?.as_f64()?)))
            .collect();
        if points.len() < 3 {
            continue;
        }
        if points.first() != points.last() {
            points.push(points[0]);
        }
        let text: Vec<String> = points
            .iter()
            .map(|(lat, lon)| format!("{lat},{lon}"))
            .collect();
        out.insert(id as u32, text.join(" "));
    }
    Some(out)
}

/// The Atom feed: one entry per alert (`entries` holds each alert's id and every event of
/// it), the latest message of each embedded whole in its `<content>`, newest first. `base` is
/// the address clients reached the server at, for absolute links.
pub fn atom_feed(
    key: &EventKey,
    registry: &Registry,
    sender: &str,
    base: &str,
    mut entries: Vec<(u64, Vec<Event>)>,
    now: DateTime<Utc>,
) -> io::Result<String> {
    entries.sort_by_key(|(_, events)| std::cmp::Reverse(events.last().map_or(0, |e| e.seq)));
    let updated = entries
        .first()
        .and_then(|(_, e)| e.last())
        .map_or(now, |e| e.at);
    let key_id = key.key_id.clone();
    let build = || -> io::Result<String> {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        w.create_element("feed")
            .with_attribute(("xmlns", ATOM_NS))
            .write_inner_content(|w| {
                text(w, "id", &format!("urn:tryvoga:{key_id}:cap-feed"))?;
                text(w, "title", "Tryvoga: alerts (CAP 1.2)")?;
                text(w, "updated", &updated.to_rfc3339())?;
                w.create_element("author")
                    .write_inner_content(|w| text(w, "name", sender))?;
                w.create_element("link")
                    .with_attribute(("rel", "self"))
                    .with_attribute(("href", format!("{base}/feeds/cap.atom").as_str()))
                    .write_empty()?;
                for (id, events) in &entries {
                    let Some(last) = events.last() else { continue };
                    let Some(alert) = last.body.alert() else {
                        continue;
                    };
                    let signed = signed_message(key, registry, sender, events)?;
                    w.create_element("entry").write_inner_content(|w| {
                        text(
                            w,
                            "id",
                            &format!("urn:tryvoga:{}", identifier(&key_id, last.seq)),
                        )?;
                        let title = format!(
                            "{}: {} ({})",
                            words(alert.alert_type).event[1],
                            alert.region.name_en,
                            last.kind()
                        );
                        text(w, "title", &title)?;
                        text(w, "updated", &last.at.to_rfc3339())?;
                        w.create_element("link")
                            .with_attribute(("rel", "alternate"))
                            .with_attribute(("type", CAP_TYPE))
                            .with_attribute((
                                "href",
                                format!("{base}/api/v1/alerts/{id}.cap").as_str(),
                            ))
                            .write_empty()?;
                        w.create_element("content")
                            .with_attribute(("type", CAP_TYPE))
                            .write_inner_content(|w| {
                                // Embedded byte for byte, so its signature verifies here too.
                                w.get_mut().extend_from_slice(signed.as_bytes());
                                Ok(())
                            })?;
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
        let mut out = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
        out.extend(w.into_inner());
        out.push(b'\n');
        String::from_utf8(out).map_err(io::Error::other)
    };
    build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oblast_outline_is_a_closed_ring_of_lat_lon_pairs() {
        let polygons = oblast_polygons();
        assert_eq!(polygons.len(), 27);
        for ring in polygons.values() {
            let points: Vec<&str> = ring.split(' ').collect();
            assert!(points.len() >= 4);
            assert_eq!(points.first(), points.last());
            let (lat, lon) = points[0].split_once(',').unwrap();
            let (lat, lon): (f64, f64) = (lat.parse().unwrap(), lon.parse().unwrap());
            assert!((44.0..53.0).contains(&lat) && (22.0..41.0).contains(&lon));
        }
    }
}

//! Each reader, on arbitrary input and on input stitched from the words the readers look for,
//! returns (possibly empty) structures and never panics. The fuzz targets in `fuzz/` do the same
//! with coverage guidance; this runs everywhere `cargo test` does.

use proptest::prelude::*;
use tryvoga_ingest::channel::{Message, rebuild_intervals};
use tryvoga_ingest::news::{read_news, read_news_documents};
use tryvoga_ingest::summary::read_summary;
use tryvoga_ingest::{Gazetteer, Kind, read_text};

const PIECES: &[&str] = &[
    "🔴",
    "🟢",
    "🟡",
    "🟠",
    "18:10",
    "99:99",
    "Повітряна тривога в ",
    "Відбій тривоги в ",
    "Київська область",
    "#м_Харків_та_Харківська_територіальна_громада",
    "\n- ",
    "ще триває у:",
    "Загроза артобстрілу!",
    "Зараз у ",
    "(",
    ")",
    "У ніч на 31 лютого (з 18:00 30 лютого)",
    "противник атакував",
    "двома",
    "балістичними ракетами Іскандер-М/KN-23/С-400",
    "БпЛА",
    "збито/подавлено",
    "Зафіксовано влучання",
    "на",
    "локаціях",
    "Решта ракет цілей не досягла",
    "станом на 25:61",
    "Протягом дня 0 серпня (із 6.30 по 99.99)",
    "Одещина",
    "у бік столиці",
    "10,000",
    "two",
    "cruise and ballistic missiles",
    "shot down",
    "of",
    "were lost",
    "left",
    "Kyiv region",
    "Kyiv",
    "the capital",
    "Andy Gregory13 November 2024 10:24",
    "10:24 GMT",
    "killing",
    "injuring",
    "power supply",
    "restrictions would apply to",
    "regions",
    ".",
    ",",
    " ",
    "4294967296",
    "99999999999999999999",
    "S8000",
    "Бандероль",
    "Х-59/69",
    "a",
    "rest",
];

fn stitched() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|v| v.join(" "))
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), stitched()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn channel_never_panics(text in any_text()) {
        let g = Gazetteer::embedded();
        let _ = read_text(&text, Kind::Channel, g);
        let messages: Vec<Message> = text.split('\n').map(Message::from_text).collect();
        let _ = rebuild_intervals(&messages, g);
    }

    #[test]
    fn summary_never_panics(text in any_text(), secs in 0i64..4_000_000_000) {
        let _ = read_summary(&text, Gazetteer::embedded(), chrono::DateTime::from_timestamp(secs, 0));
        let _ = read_text(&text, Kind::Summary, Gazetteer::embedded());
    }

    #[test]
    fn news_never_panics(a in any_text(), b in any_text()) {
        let g = Gazetteer::embedded();
        let _ = read_news(&a, g);
        let _ = read_news_documents(&[&a, &b], g);
        let _ = read_text(&a, Kind::Auto, g);
    }
}

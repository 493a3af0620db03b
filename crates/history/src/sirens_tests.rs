//! Unit tests of `sirens`, kept beside it rather than in it so that the module reads as the
//! reader it is.

use super::*;

fn read(text: &str) -> Dataset {
    read_sirens_from(text.as_bytes(), "t.csv", Registry::embedded(), &mut |_| {}).expect("readable")
}

const HEADER: &str = "oblast,raion,hromada,level,started_at,finished_at,source\n";

#[test]
fn every_level_resolves_within_its_parent_and_times_are_utc() {
    let d = read(&format!(
        "{HEADER}Kyiv City,,,oblast,2022-03-15 16:10:34+00:00,2022-03-15 16:50:07+00:00,official\n\
         Poltavska oblast,Lubenskyi raion,,raion,2022-03-15 16:46:43+00:00,2022-03-15 16:58:17+00:00,official\n"
    ));
    assert_eq!(d.source, "vadimkin/official");
    assert_eq!(d.rows.len(), 2, "{:?}", d.skipped);
    assert_eq!(d.rows[0].region, RegionId(31));
    assert_eq!(d.rows[0].line, 2);
    assert_eq!(
        d.rows[0].started_at.to_rfc3339(),
        "2022-03-15T16:10:34+00:00"
    );
    assert_eq!(d.rows[1].line, 3);
}

#[test]
fn the_swapped_row_is_imported_with_a_note() {
    let d = read(&format!(
        "{HEADER}Lubenskyi raion,Poltavska oblast,Hrebinkivska terytorialna hromada,hromada,\
         2022-03-15 16:46:43+00:00,2022-03-15 16:58:17+00:00,official\n"
    ));
    assert_eq!(d.rows.len(), 1, "{:?}", d.skipped);
    assert_eq!(d.notes.len(), 1);
    assert_eq!(d.notes[0].line, 2);
    assert!(d.notes[0].message.contains("swapped"));
}

#[test]
fn bad_rows_are_skipped_with_their_line_and_reason() {
    let d = read(&format!(
        "{HEADER}Atlantis oblast,,,oblast,2022-03-15 16:10:34+00:00,2022-03-15 16:50:07+00:00,official\n\
         Kyiv City,,,oblast,2022-03-15 16:10:34+00:00,yesterday,official\n\
         Kyiv City,,,oblast,2022-03-15 16:10:34+00:00,2022-03-15 16:00:00+00:00,official\n\
         Kyiv City,,,raion,2022-03-15 16:10:34+00:00,2022-03-15 16:50:07+00:00,official\n\
         Kyiv City,,,oblast\n"
    ));
    assert!(d.rows.is_empty());
    let lines: Vec<u64> = d.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6]);
    assert!(d.skipped[0].reason.contains("Atlantis"));
    assert!(d.skipped[1].reason.contains("finished_at"));
    assert!(d.skipped[2].reason.contains("before"));
    assert!(d.skipped[3].reason.contains("level is raion"));
    assert!(d.skipped[4].reason.contains("fields"));
}

#[test]
fn volunteer_rows_keep_the_naive_end_as_a_note() {
    let d = read(
        "region,started_at,finished_at,naive\n\
         Київ,2022-02-25 16:36:22+00:00,2022-02-25 17:06:22+00:00,True\n\
         Cherkaska oblast,2022-02-25 18:36:21+00:00,2022-02-25 19:32:11+00:00,False\n",
    );
    assert_eq!(d.source, "vadimkin/volunteer");
    assert_eq!(d.rows.len(), 2, "{:?}", d.skipped);
    assert_eq!(d.rows[0].region, RegionId(31));
    assert!(d.rows[0].note.is_some());
    assert!(d.rows[1].note.is_none());
}

#[test]
fn lines_are_counted_right_with_crlf_ends() {
    let d = read(&format!(
        "{}Kyiv City,,,oblast,2022-03-15 16:10:34+00:00,2022-03-15 16:50:07+00:00,official\r\n\
         Nowhere,,,oblast,2022-03-15 16:10:34+00:00,2022-03-15 16:50:07+00:00,official\r\n",
        HEADER.replace('\n', "\r\n")
    ));
    assert_eq!(d.rows[0].line, 2);
    assert_eq!(d.skipped[0].line, 3);
}

#[test]
fn an_unknown_layout_names_the_header() {
    let e = read_sirens_from(
        "a,b\n1,2\n".as_bytes(),
        "x.csv",
        Registry::embedded(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("x.csv: line 1"), "{e}");
}

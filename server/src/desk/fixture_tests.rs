//! The computed calendar against an independent list: `tests/fixtures/jp_holidays_1990_2099.tsv`,
//! written by `scripts/gen_holidays_fixture.py` from python-holidays and cross-checked date for
//! date with jpholiday (two independently maintained libraries; for published years both match
//! the Cabinet Office list, and both extend the equinox days with the standard formula as we do).
//!
//! Dates must match exactly. Names are compared too, except where the sources word a holiday
//! differently from our canonical (legal / Cabinet Office) names; those differences are listed
//! explicitly below, so any new difference fails.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::calendar::{FIRST_YEAR, LAST_YEAR, holidays_in_year};

const FIXTURE: &str = include_str!("../../tests/fixtures/jp_holidays_1990_2099.tsv");

/// (date, fixture name, our name) where only the wording differs.
const WORDING: &[(&str, &str, &str)] = &[
    // python-holidays spells out the law's title; the Cabinet Office list says 即位礼正殿の儀.
    ("2019-10-22", "即位礼正殿の儀が行われる日", "即位礼正殿の儀"),
];

fn fixture() -> BTreeMap<NaiveDate, &'static str> {
    FIXTURE
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (date, name) = line.split_once('\t').expect("YYYY-MM-DD<TAB>name");
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
            (date, name)
        })
        .collect()
}

#[test]
fn fixture_names_its_generator() {
    let header = FIXTURE.lines().next().unwrap();
    assert!(header.starts_with("# "), "{header}");
    assert!(header.contains("holidays=="), "{header}");
}

#[test]
fn every_holiday_date_1990_to_2099_matches_the_fixture() {
    let expected = fixture();
    assert!(
        expected.len() > 1900,
        "fixture too short: {}",
        expected.len()
    );
    let ours: BTreeMap<NaiveDate, &str> = (FIRST_YEAR..=LAST_YEAR)
        .flat_map(holidays_in_year)
        .collect();
    let missing: Vec<_> = expected.keys().filter(|d| !ours.contains_key(d)).collect();
    let extra: Vec<_> = ours.keys().filter(|d| !expected.contains_key(d)).collect();
    assert!(
        missing.is_empty(),
        "holidays we do not compute: {missing:?}"
    );
    assert!(extra.is_empty(), "holidays not in the fixture: {extra:?}");
}

#[test]
fn holiday_names_match_the_fixture_except_listed_wording() {
    let mut wording_seen = 0;
    for (date, theirs) in fixture() {
        let ours = super::calendar::holiday_name(date).unwrap_or("-");
        if ours == theirs {
            continue;
        }
        let key = date.format("%Y-%m-%d").to_string();
        assert!(
            WORDING.contains(&(key.as_str(), theirs, ours)),
            "{key}: fixture says {theirs}, we say {ours}"
        );
        wording_seen += 1;
    }
    assert_eq!(wording_seen, WORDING.len(), "stale entries in WORDING");
}

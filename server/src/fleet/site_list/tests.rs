use super::sql::like_escape;
use super::*;

fn params(pairs: &[(&str, &str)]) -> ListParams {
    serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).unwrap()).unwrap()
}

#[test]
fn empty_fields_mean_no_filter_and_the_default_sort() {
    let req = params(&[("q", "  "), ("state", ""), ("sort", "")])
        .check()
        .unwrap();
    assert_eq!(req, ListRequest::default());
    assert!(!req.filter.is_search_only());
}

#[test]
fn every_filter_is_parsed_into_its_enum() {
    let req = params(&[
        ("q", " 山田 "),
        ("state", "critical"),
        ("kind", "home_nursing"),
        ("prefecture", "東京都"),
        ("maker", "canon"),
        ("router", "at-ar1050v"),
        ("maintenance", "omakase"),
        ("sort", "last_report"),
    ])
    .check()
    .unwrap();
    assert_eq!(
        req.filter,
        SiteFilter {
            q: Some("山田".into()),
            state: Some(SiteStatus::Critical),
            kind: Some(SiteKind::HomeNursing),
            prefecture: Some("東京都".into()),
            maker: Some(ReaderMaker::Canon),
            router: Some(RouterModel::AtAr1050v),
            maintenance: Some(Maintenance::Omakase),
        }
    );
    assert_eq!(req.sort, SiteSort::LastReport);
    assert!(!req.filter.is_search_only());
}

#[test]
fn unknown_values_are_refused_in_japanese_with_the_allowed_ones() {
    let cases = [
        ("state", "broken", "状態「broken」"),
        ("kind", "hospital", "clinic / pharmacy / home_nursing"),
        ("maker", "sony", "fujitsu / panasonic"),
        ("router", "RTX1200", "AT-AR1050V / NVR700 / RTX830"),
        ("maintenance", "gold", "none / omakase"),
        ("sort", "random", "name / site_id / state / last_report"),
        ("prefecture", "東京", "正式な名前"),
    ];
    for (field, value, expected) in cases {
        let err = params(&[(field, value)]).check().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{field}");
        assert!(err.to_string().contains(expected), "{field}: {err}");
    }
}

#[test]
fn search_text_is_bounded_and_free_of_control_characters() {
    let long = "山".repeat(MAX_QUERY_CHARS + 1);
    assert!(
        params(&[("q", long.as_str())])
            .check()
            .unwrap_err()
            .to_string()
            .contains("100文字以内")
    );
    assert!(params(&[("q", "a\u{202E}b")]).check().is_err());
    assert!(params(&[("q", "a\nb")]).check().is_err());
    let fits = "山".repeat(MAX_QUERY_CHARS);
    assert!(params(&[("q", fits.as_str())]).check().is_ok());
}

#[test]
fn search_only_is_the_global_search() {
    let req = params(&[("q", "0312345678"), ("state", "")])
        .check()
        .unwrap();
    assert!(req.filter.is_search_only());
    let req = params(&[("q", "0312345678"), ("kind", "clinic")])
        .check()
        .unwrap();
    assert!(!req.filter.is_search_only());
}

#[test]
fn cursors_round_trip_per_sort_and_refuse_another_sort_or_garbage() {
    let at: DateTime<Utc> = "2026-12-01T01:02:03.456789Z".parse().unwrap();
    let cursors = [
        Cursor {
            sort: SiteSort::Name,
            site_id: "s-1".into(),
            name: Some("山田医院 \"本院\"".into()),
            rank: None,
            received_at: None,
        },
        Cursor {
            sort: SiteSort::SiteId,
            site_id: "s-2".into(),
            name: None,
            rank: None,
            received_at: None,
        },
        Cursor {
            sort: SiteSort::State,
            site_id: "s-3".into(),
            name: Some("さくら薬局".into()),
            rank: Some(2),
            received_at: None,
        },
        Cursor {
            sort: SiteSort::LastReport,
            site_id: "s-4".into(),
            name: None,
            rank: None,
            received_at: Some(at),
        },
    ];
    for c in cursors {
        let text = c.encode();
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
        assert_eq!(Cursor::decode(&text, c.sort).unwrap(), c);
        let other = SiteSort::ALL.into_iter().find(|s| *s != c.sort).unwrap();
        assert!(Cursor::decode(&text, other).is_err());
        let req = params(&[("sort", c.sort.as_str()), ("cursor", text.as_str())])
            .check()
            .unwrap();
        assert_eq!(req.cursor, Some(c));
    }
    for garbage in [
        "zz",
        "",
        "7b7d",
        &hex::encode(r#"{"sort":"state","site_id":"x"}"#),
    ] {
        assert!(
            Cursor::decode(garbage, SiteSort::State)
                .unwrap_err()
                .to_string()
                .contains("先頭から"),
            "{garbage}"
        );
    }
}

#[test]
fn query_strings_carry_the_filter_sort_and_cursor() {
    let req = params(&[
        ("q", "山田 医院&x"),
        ("state", "warning"),
        ("router", "NVR700"),
    ])
    .check()
    .unwrap();
    let text = req.filter.query_string(SiteSort::Name, None);
    assert_eq!(
        text,
        "q=%E5%B1%B1%E7%94%B0+%E5%8C%BB%E9%99%A2%26x&state=warning&router=NVR700"
    );
    let back: ListParams = serde_urlencoded::from_str(&text).unwrap();
    assert_eq!(back.check().unwrap().filter, req.filter);
    let cursor = Cursor {
        sort: SiteSort::SiteId,
        site_id: "s".into(),
        name: None,
        rank: None,
        received_at: None,
    };
    let text = SiteFilter::default().query_string(SiteSort::SiteId, Some(&cursor));
    assert_eq!(text, format!("sort=site_id&cursor={}", cursor.encode()));
}

#[test]
fn like_patterns_take_wildcards_literally() {
    assert_eq!(like_escape("100%_a\\b"), "100\\%\\_a\\\\b");
    assert_eq!(like_escape("山田"), "山田");
}

use super::*;

fn site(prefecture: &str, kind: SiteKind, maintenance: Maintenance) -> SiteFacts<'_> {
    SiteFacts {
        prefecture,
        kind,
        maintenance,
    }
}

fn incident(severity: Health, rule: Rule, site: SiteFacts<'_>) -> Target<'_> {
    Target {
        severity,
        rule: Some(rule),
        site: Some(site),
    }
}

fn event(severity: Health) -> Target<'static> {
    Target {
        severity,
        rule: None,
        site: None,
    }
}

fn route(name: &str, channels: &[&str]) -> Route {
    Route {
        id: 1,
        name: name.into(),
        min_severity: Health::Warning,
        rules: vec![],
        prefectures: vec![],
        kinds: vec![],
        maintenance: None,
        channels: channels.iter().map(|c| c.to_string()).collect(),
    }
}

fn gate(name: &str, min: Health) -> ChannelGate {
    ChannelGate {
        name: name.into(),
        min_severity: min,
    }
}

fn names(v: Vec<&ChannelGate>) -> Vec<&str> {
    v.into_iter().map(|c| c.name.as_str()).collect()
}

const TOKYO: &str = "東京都";

#[test]
fn an_empty_route_matches_everything_at_its_severity() {
    let r = route("all", &["a"]);
    let tokyo = site(TOKYO, SiteKind::Clinic, Maintenance::None);
    assert!(r.matches(&incident(Health::Warning, Rule::ReaderOff, tokyo)));
    assert!(r.matches(&incident(Health::Critical, Rule::Offline, tokyo)));
    assert!(!r.matches(&incident(Health::Info, Rule::ScreenLockDisabled, tokyo)));
    assert!(r.matches(&event(Health::Critical)));
}

#[test]
fn every_matcher_must_match() {
    let r = Route {
        min_severity: Health::Critical,
        rules: vec![Rule::ReaderOff, Rule::Offline],
        prefectures: vec![TOKYO.into(), "神奈川県".into()],
        kinds: vec![SiteKind::Pharmacy],
        maintenance: Some(Maintenance::Omakase),
        ..route("narrow", &["a"])
    };
    let good = site(TOKYO, SiteKind::Pharmacy, Maintenance::Omakase);
    assert!(r.matches(&incident(Health::Critical, Rule::ReaderOff, good)));
    assert!(r.matches(&incident(
        Health::Critical,
        Rule::Offline,
        site("神奈川県", SiteKind::Pharmacy, Maintenance::Omakase)
    )));
    // Each matcher alone can refuse.
    assert!(!r.matches(&incident(Health::Warning, Rule::ReaderOff, good)));
    assert!(!r.matches(&incident(Health::Critical, Rule::CertExpired, good)));
    assert!(!r.matches(&incident(
        Health::Critical,
        Rule::ReaderOff,
        site("大阪府", SiteKind::Pharmacy, Maintenance::Omakase)
    )));
    assert!(!r.matches(&incident(
        Health::Critical,
        Rule::ReaderOff,
        site(TOKYO, SiteKind::Clinic, Maintenance::Omakase)
    )));
    assert!(!r.matches(&incident(
        Health::Critical,
        Rule::ReaderOff,
        site(TOKYO, SiteKind::Pharmacy, Maintenance::None)
    )));
    // A fleet-wide event has no rule or site: a route that narrows by them does not take it.
    assert!(!r.matches(&event(Health::Critical)));
    let by_site_only = Route {
        prefectures: vec![TOKYO.into()],
        ..route("tokyo", &["a"])
    };
    assert!(!by_site_only.matches(&event(Health::Critical)));
    let by_rule_only = Route {
        rules: vec![Rule::Offline],
        ..route("offline", &["a"])
    };
    assert!(!by_rule_only.matches(&event(Health::Critical)));
}

#[test]
fn channels_without_routes_hear_everything_above_their_minimum() {
    let channels = [
        gate("ops", Health::Warning),
        gate("pager", Health::Critical),
    ];
    let tokyo = site(TOKYO, SiteKind::Clinic, Maintenance::None);
    assert_eq!(
        names(channels_for(
            &incident(Health::Critical, Rule::ReaderOff, tokyo),
            &channels,
            &[]
        )),
        ["ops", "pager"]
    );
    assert_eq!(
        names(channels_for(
            &incident(Health::Warning, Rule::CertExpiring, tokyo),
            &channels,
            &[]
        )),
        ["ops"]
    );
    assert!(
        channels_for(
            &incident(Health::Info, Rule::ScreenLockDisabled, tokyo),
            &channels,
            &[]
        )
        .is_empty()
    );
}

#[test]
fn a_channel_named_by_routes_hears_only_what_they_match() {
    let channels = [gate("ops", Health::Info), gate("tokyo-desk", Health::Info)];
    let routes = [
        Route {
            prefectures: vec![TOKYO.into()],
            ..route("tokyo", &["tokyo-desk"])
        },
        Route {
            rules: vec![Rule::Offline],
            ..route("offline", &["tokyo-desk"])
        },
    ];
    let tokyo = site(TOKYO, SiteKind::Clinic, Maintenance::None);
    let osaka = site("大阪府", SiteKind::Clinic, Maintenance::None);
    assert_eq!(
        names(channels_for(
            &incident(Health::Warning, Rule::ReaderOff, tokyo),
            &channels,
            &routes
        )),
        ["ops", "tokyo-desk"]
    );
    // Osaka reaches tokyo-desk only through the offline route.
    assert_eq!(
        names(channels_for(
            &incident(Health::Warning, Rule::ReaderOff, osaka),
            &channels,
            &routes
        )),
        ["ops"]
    );
    assert_eq!(
        names(channels_for(
            &incident(Health::Critical, Rule::Offline, osaka),
            &channels,
            &routes
        )),
        ["ops", "tokyo-desk"]
    );
    // The channel's own minimum still applies under a route.
    let strict = [gate("tokyo-desk", Health::Critical)];
    assert!(
        channels_for(
            &incident(Health::Warning, Rule::ReaderOff, tokyo),
            &strict,
            &routes
        )
        .is_empty()
    );
}

#[test]
fn new_routes_are_checked_field_by_field() {
    let ok = NewRoute {
        name: " tokyo-critical ".into(),
        channels: vec!["ops".into(), " ".into()],
        min_severity: Some(Health::Critical),
        rules: vec!["reader_off".into()],
        prefectures: vec![TOKYO.into()],
        kinds: vec![SiteKind::Clinic],
        maintenance: Some(Maintenance::Omakase),
    }
    .validate()
    .unwrap();
    assert_eq!(ok.name, "tokyo-critical");
    assert_eq!(ok.channels, ["ops"]);
    assert_eq!(ok.rules, [Rule::ReaderOff]);

    let bad = NewRoute {
        name: "".into(),
        channels: vec![],
        min_severity: Some(Health::Ok),
        rules: vec!["reader_of".into()],
        prefectures: vec!["東京".into()],
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert!(bad.get("name").unwrap().contains("ルート名"));
    assert!(bad.get("channels").unwrap().contains("チャネル"));
    assert!(bad.get("min_severity").is_some());
    assert!(bad.get("rules").unwrap().contains("reader_of"));
    assert!(bad.get("prefectures").unwrap().contains("東京"));
    let newline = NewRoute {
        name: "a\nb".into(),
        channels: vec!["ops".into()],
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert!(newline.get("name").unwrap().contains("制御文字"));
}

use super::*;

fn webhook() -> NewChannel {
    NewChannel {
        name: "ops-hook".into(),
        kind: Some(ChannelKind::Webhook),
        url: Some("https://hooks.example.jp/onshi".into()),
        secret: Some("0123456789abcdef-secret".into()),
        ..Default::default()
    }
}

fn smtp() -> NewChannel {
    NewChannel {
        name: "ops-mail".into(),
        kind: Some(ChannelKind::Smtp),
        smtp_url: Some("smtp://mail.example.jp:587?tls=required".into()),
        from: Some("Onshi Fleet <fleet@example.jp>".into()),
        to: Some("ops@example.jp, desk@example.jp".into()),
        ..Default::default()
    }
}

#[test]
fn a_webhook_channel_with_defaults() {
    let c = webhook().validate().unwrap();
    assert_eq!(c.kind, ChannelKind::Webhook);
    assert_eq!(c.min_severity, Health::Warning);
    assert_eq!(
        (
            c.group_seconds,
            c.repeat_minutes,
            c.max_attempts,
            c.timeout_seconds
        ),
        (60, 0, 8, 10)
    );
    assert!(c.mail_to.is_empty());
}

#[test]
fn an_smtp_channel_splits_its_recipients() {
    let c = smtp().validate().unwrap();
    assert_eq!(c.mail_to, ["ops@example.jp", "desk@example.jp"]);
    assert_eq!(
        c.mail_from.as_deref(),
        Some("Onshi Fleet <fleet@example.jp>")
    );
}

#[test]
fn invalid_urls_are_refused_with_an_example() {
    for (url, needle) in [
        ("not a url", "正しくありません"),
        ("ftp://hooks.example.jp/x", "http:// か https://"),
        ("https://user:pw@hooks.example.jp/x", "認証情報"),
        ("https://hooks.example.jp/x#frag", "#"),
        ("https://hooks.example.jp/\nX-Evil: 1", "制御文字"),
    ] {
        let err = NewChannel {
            url: Some(url.into()),
            ..webhook()
        }
        .validate()
        .unwrap_err();
        let m = err.get("url").unwrap_or_else(|| panic!("{url}: {err}"));
        assert!(m.contains(needle), "{url}: {m}");
    }
    let err = NewChannel {
        smtp_url: Some("http://mail.example.jp".into()),
        ..smtp()
    }
    .validate()
    .unwrap_err();
    assert!(err.get("smtp_url").unwrap().contains("smtp://"));
}

#[test]
fn secrets_addresses_and_kinds_are_checked() {
    let err = NewChannel {
        secret: Some("short".into()),
        ..webhook()
    }
    .validate()
    .unwrap_err();
    assert!(err.get("secret").unwrap().contains("16文字以上"));
    let err = NewChannel {
        to: Some("ops@example.jp,not-an-address".into()),
        from: Some("x\r\nBcc: y@example.jp".into()),
        ..smtp()
    }
    .validate()
    .unwrap_err();
    assert!(err.get("to").unwrap().contains("not-an-address"));
    assert!(err.get("from").unwrap().contains("制御文字"));
    let err = NewChannel {
        to: Some("a@example.jp".into()),
        ..webhook()
    }
    .validate()
    .unwrap_err();
    assert!(err.get("to").unwrap().contains("Webhook"));
    let err = NewChannel {
        kind: None,
        ..webhook()
    }
    .validate()
    .unwrap_err();
    assert!(err.get("kind").is_some());
}

#[test]
fn numbers_out_of_range_are_refused() {
    let err = NewChannel {
        group_seconds: Some(-1),
        repeat_minutes: Some(100_000),
        max_attempts: Some(0),
        timeout_seconds: Some(301),
        min_severity: Some(Health::Ok),
        ..webhook()
    }
    .validate()
    .unwrap_err();
    for field in [
        "group_seconds",
        "repeat_minutes",
        "max_attempts",
        "timeout_seconds",
        "min_severity",
    ] {
        assert!(err.get(field).is_some(), "{field}: {err}");
    }
}

#[test]
fn the_destination_never_shows_a_password() {
    let c = Channel {
        id: 1,
        name: "m".into(),
        kind: ChannelKind::Smtp,
        min_severity: Health::Warning,
        url: None,
        secret: None,
        smtp_url: Some("smtps://bot:s3cret@mail.example.jp".into()),
        mail_from: Some("f@example.jp".into()),
        mail_to: Some(vec!["a@example.jp".into()]),
        group_seconds: 60,
        repeat_minutes: 0,
        max_attempts: 8,
        timeout_seconds: 10,
        created_by: "t".into(),
        created_at: Utc::now(),
    };
    let shown = c.destination();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("a@example.jp"), "{shown}");
}

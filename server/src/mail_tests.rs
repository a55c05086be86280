//! Unit tests of the mail module's pure parts: URLs, validation, error classes.
//! Sending to a real SMTP server is tested in `tests/e2e_mail.rs`.

use super::*;

fn mail() -> Mail {
    Mail {
        from: "Onshi Fleet <fleet@example.jp>".into(),
        to: vec!["ops@example.jp".into()],
        subject: "【重要】カードリーダー電源断".into(),
        body: "山田医院でカードリーダーの電源が切れています。\n確認してください。".into(),
        message_id: Some("delivery-42@onshi-fleet".into()),
    }
}

#[test]
fn urls_with_their_tls_modes_and_default_ports() {
    let u: SmtpUrl = "smtp://mail.example.jp".parse().unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.security),
        ("mail.example.jp", 25, SmtpSecurity::Opportunistic)
    );
    let u: SmtpUrl = "smtp://127.0.0.1:2525?tls=none".parse().unwrap();
    assert_eq!((u.port, u.security), (2525, SmtpSecurity::None));
    let u: SmtpUrl = "smtp://relay:587?tls=required".parse().unwrap();
    assert_eq!(u.security, SmtpSecurity::Required);
    let u: SmtpUrl = "smtps://user%40x:p%2Fw@mail.example.jp".parse().unwrap();
    assert_eq!((u.port, u.security), (465, SmtpSecurity::Implicit));
    assert_eq!(u.username.as_deref(), Some("user@x"));
    assert_eq!(u.password.as_deref(), Some("p/w"));
    let u: SmtpUrl = "smtp://[::1]:25?tls=none".parse().unwrap();
    assert_eq!(u.host, "::1");
}

#[test]
fn display_masks_the_password() {
    let u: SmtpUrl = "smtps://bot:s3cret@mail.example.jp:465".parse().unwrap();
    let shown = u.to_string();
    assert_eq!(shown, "smtps://bot:***@mail.example.jp:465");
    assert!(!format!("{u:?}").contains("s3cret"));
    assert_eq!(
        "smtp://h:25?tls=required"
            .parse::<SmtpUrl>()
            .unwrap()
            .to_string(),
        "smtp://h:25?tls=required"
    );
}

#[test]
fn bad_urls_are_refused_with_an_example() {
    for (url, needle) in [
        ("http://mail.example.jp", "smtp:// か smtps://"),
        ("smtp://", "ホスト名"),
        ("mail.example.jp:25", "正しくありません"),
        ("smtp://h:25?tls=maybe", "none / opportunistic / required"),
        ("smtps://h?tls=none", "常に TLS"),
        ("smtp://h:25/path", "パス"),
        ("smtp://h:25?foo=1", "foo"),
        ("smtp://h:99999", "正しくありません"),
    ] {
        let err = url.parse::<SmtpUrl>().unwrap_err();
        assert!(matches!(err, MailError::Invalid(_)), "{url}");
        let text = err.to_string();
        assert!(text.contains(needle), "{url}: {text}");
        assert!(text.contains("例: smtp://"), "{url}: {text}");
    }
}

#[test]
fn credentials_need_tls() {
    for url in [
        "smtp://u:p@h:25",
        "smtp://u:p@h:25?tls=none",
        "smtp://u:p@h?tls=opportunistic",
    ] {
        let err = url.parse::<SmtpUrl>().unwrap_err().to_string();
        assert!(err.contains("tls=required"), "{url}: {err}");
        assert!(!err.contains(":p@"), "password shown: {err}");
    }
    assert!("smtp://u:p@h:587?tls=required".parse::<SmtpUrl>().is_ok());
}

#[test]
fn a_valid_mail_encodes_japanese_subject_and_body() {
    let message = mail().to_message().unwrap();
    let raw = String::from_utf8(message.formatted()).unwrap();
    assert!(raw.is_ascii(), "7-bit clean: {raw}");
    assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
    assert!(
        raw.contains("Message-ID: <delivery-42@onshi-fleet>"),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: text/plain; charset=utf-8"),
        "{raw}"
    );
}

#[test]
fn header_injection_is_refused() {
    for bad in ["件名\r\nBcc: victim@example.jp", "a\nb", "a\rb", "x\u{0}"] {
        let m = Mail {
            subject: bad.into(),
            ..mail()
        };
        let err = m.to_message().unwrap_err();
        assert!(err.to_string().contains("件名に制御文字"), "{err}");
        assert!(err.is_permanent());
    }
    let m = Mail {
        to: vec!["ops@example.jp\r\nBcc: x@example.jp".into()],
        ..mail()
    };
    assert!(
        m.to_message()
            .unwrap_err()
            .to_string()
            .contains("宛先に制御文字")
    );
    let m = Mail {
        from: "a@example.jp\nX-Evil: 1".into(),
        ..mail()
    };
    assert!(
        m.to_message()
            .unwrap_err()
            .to_string()
            .contains("差出人に制御文字")
    );
    let m = Mail {
        message_id: Some("x@y>\r\nBcc: z".into()),
        ..mail()
    };
    assert!(
        m.to_message()
            .unwrap_err()
            .to_string()
            .contains("Message-ID")
    );
}

#[test]
fn addresses_are_validated() {
    for bad in ["", "not-an-address", "a@", "@example.jp", "a b@example.jp"] {
        let m = Mail {
            to: vec![bad.into()],
            ..mail()
        };
        assert!(m.to_message().is_err(), "{bad:?} accepted");
    }
    let m = Mail {
        to: vec![],
        ..mail()
    };
    assert!(
        m.to_message()
            .unwrap_err()
            .to_string()
            .contains("宛先を1件以上")
    );
    let m = Mail {
        to: vec!["a@example.jp".into(); MAX_RECIPIENTS + 1],
        ..mail()
    };
    assert!(m.to_message().unwrap_err().to_string().contains("件以内"));
    assert_eq!(
        parse_address_list("宛先", " a@example.jp, 受付 <b@example.jp> ,").unwrap(),
        vec!["a@example.jp".to_owned(), "受付 <b@example.jp>".to_owned()]
    );
    assert!(parse_address_list("宛先", " , ").is_err());
    assert!(
        parse_address_list("宛先", "a@example.jp,oops")
            .unwrap_err()
            .to_string()
            .contains("oops")
    );
}

#[test]
fn subject_and_body_limits() {
    let m = Mail {
        subject: "  ".into(),
        ..mail()
    };
    assert!(
        m.to_message()
            .unwrap_err()
            .to_string()
            .contains("件名を入力")
    );
    let m = Mail {
        subject: "あ".repeat(MAX_SUBJECT_CHARS + 1),
        ..mail()
    };
    assert!(
        m.to_message()
            .unwrap_err()
            .to_string()
            .contains("200文字以内")
    );
    // The 10 MB comment.
    let m = Mail {
        body: "あ".repeat(10 * 1024 * 1024 / 3),
        ..mail()
    };
    let err = m.to_message().unwrap_err();
    assert!(matches!(err, MailError::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("上限 262144 バイト"), "{err}");
    let m = Mail {
        body: "a\u{0}b".into(),
        ..mail()
    };
    assert!(m.to_message().is_err());
}

#[test]
fn only_bad_input_and_5xx_replies_are_permanent() {
    let server = "h:25".to_owned();
    let rejected = |code| MailError::Rejected {
        server: server.clone(),
        code,
        reply: "x".into(),
    };
    assert!(rejected(550).is_permanent());
    assert!(!rejected(451).is_permanent());
    assert!(
        !MailError::Timeout {
            server: server.clone(),
            secs: 1
        }
        .is_permanent()
    );
    assert!(
        !MailError::Connect {
            server: server.clone(),
            detail: "refused".into()
        }
        .is_permanent()
    );
    assert!(
        !MailError::Tls {
            server,
            detail: "x".into()
        }
        .is_permanent()
    );
}

#[test]
fn a_bad_ca_file_is_refused() {
    let smtp = Smtp::new("smtp://h".parse().unwrap());
    let err = smtp.trust_root_pem(b"not a pem").unwrap_err();
    assert!(err.to_string().contains("BEGIN CERTIFICATE"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp = Smtp::new(format!("smtp://127.0.0.1:{port}?tls=none").parse().unwrap())
        .with_timeout(Duration::from_secs(10));
    let err = smtp.send(&mail()).await.unwrap_err();
    assert!(matches!(err, MailError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{port} に接続できません")),
        "{err}"
    );
    assert!(!err.is_permanent());
}

#[tokio::test]
async fn invalid_mail_is_refused_before_connecting() {
    // Nothing listens on port 9 (discard) here; validation fails first anyway.
    let smtp = Smtp::new("smtp://127.0.0.1:9?tls=none".parse().unwrap());
    let m = Mail {
        subject: "x\r\nBcc: y@example.jp".into(),
        ..mail()
    };
    assert!(matches!(smtp.send(&m).await, Err(MailError::Invalid(_))));
}

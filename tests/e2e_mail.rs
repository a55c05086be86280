//! The mail sender (`onshi_server::mail`) against a real SMTP server process
//! (aiosmtpd, tests/common/smtp.rs): what arrives is decoded the way a mail
//! client would decode it.

mod common;

use std::time::Duration;

use common::smtp::{SmtpMode, SmtpSink};
use onshi_server::mail::{Mail, MailError, Smtp};

fn japanese_mail() -> Mail {
    Mail {
        from: "Onshi Fleet 監視 <fleet@example.jp>".into(),
        to: vec!["ops@example.jp".into(), "受付 <desk@example.jp>".into()],
        subject: "【I026_01】【医療オンライン資格確認】PC故障のご依頼".into(),
        body: "日本コムシス株式会社 御中\n\n山田医院（医療機関コード 1312345678）の\
               オン資PCが起動しません。\nシリアル番号: PF-ABC123\n\n以上、よろしくお願いいたします。\n"
            .into(),
        message_id: Some("n-1-abcdef@onshi-fleet".into()),
    }
}

fn smtp(sink: &SmtpSink) -> Smtp {
    let smtp = Smtp::new(sink.url().parse().unwrap()).with_timeout(Duration::from_secs(30));
    match &sink.ca_pem {
        Some(ca) => smtp.trust_root_pem(ca.as_bytes()).unwrap(),
        None => smtp,
    }
}

#[tokio::test]
async fn japanese_subject_and_body_arrive_decoded() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mail = japanese_mail();
    let sent = smtp(&sink).send(&mail).await.unwrap();
    assert!(sent.reply.starts_with("250"), "{sent:?}");

    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.mail_from, "fleet@example.jp");
    assert_eq!(m.rcpt_tos, vec!["ops@example.jp", "desk@example.jp"]);
    assert_eq!(m.to_header(), vec!["ops@example.jp", "desk@example.jp"]);
    assert_eq!(m.subject(), mail.subject);
    assert_eq!(m.body().replace("\r\n", "\n"), mail.body);
    assert_eq!(
        m.header("Message-ID").as_deref(),
        Some("<n-1-abcdef@onshi-fleet>")
    );
    // On the wire, 7-bit only: the subject is an RFC 2047 word, not raw UTF-8.
    let raw = m.raw_text();
    assert!(m.raw.is_ascii(), "{raw}");
    assert!(!raw.contains("医療"), "{raw}");
    assert!(!m.tls);
}

#[tokio::test]
async fn a_refused_recipient_is_a_permanent_error_and_nothing_is_delivered() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mail = Mail {
        to: vec!["ops@example.jp".into(), "refuse-me@example.jp".into()],
        ..japanese_mail()
    };
    let err = smtp(&sink).send(&mail).await.unwrap_err();
    match &err {
        MailError::Rejected { code, reply, .. } => {
            assert_eq!(*code, 550);
            assert!(reply.contains("refuse-me@example.jp"), "{reply}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(err.is_permanent());
    let text = err.to_string();
    assert!(text.contains("拒否"), "{text}");
    assert!(text.contains("宛先"), "{text}");
    // The next mail through the same sender goes out: nothing is stuck.
    smtp(&sink).send(&japanese_mail()).await.unwrap();
    let got = sink.wait_for(1);
    assert_eq!(
        got.len(),
        1,
        "the refused mail must not have been delivered"
    );
    assert_eq!(got[0].rcpt_tos, vec!["ops@example.jp", "desk@example.jp"]);
}

#[tokio::test]
async fn starttls_required_with_a_private_ca() {
    let Some(sink) = SmtpSink::start_with(SmtpMode::StartTls, None) else {
        return;
    };
    smtp(&sink).send(&japanese_mail()).await.unwrap();
    let got = sink.wait_for(1);
    assert!(got[0].tls, "the mail must have crossed a TLS connection");
    assert_eq!(got[0].subject(), japanese_mail().subject);

    // Without the CA the server's certificate is not trusted: a TLS error, not a send.
    let untrusted = Smtp::new(sink.url().parse().unwrap());
    let err = untrusted.send(&japanese_mail()).await.unwrap_err();
    assert!(matches!(err, MailError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("TLS"), "{err}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn tls_required_against_a_server_without_starttls_fails_before_sending() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}?tls=required", sink.port);
    let err = Smtp::new(url.parse().unwrap())
        .send(&japanese_mail())
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Tls { .. }), "{err:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn smtps_with_credentials() {
    let Some(sink) = SmtpSink::start_with(SmtpMode::Smtps, Some("bot:pa55")) else {
        return;
    };
    let ca = sink.ca_pem.clone().unwrap();
    let with = |userinfo: &str| {
        let url = format!("smtps://{userinfo}@127.0.0.1:{}", sink.port);
        Smtp::new(url.parse().unwrap())
            .trust_root_pem(ca.as_bytes())
            .unwrap()
    };
    let err = with("bot:wrong").send(&japanese_mail()).await.unwrap_err();
    assert!(
        matches!(err, MailError::Rejected { code: 535, .. }),
        "{err:?}"
    );
    assert!(err.is_permanent());
    with("bot:pa55").send(&japanese_mail()).await.unwrap();
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1);
    assert!(got[0].tls && got[0].authenticated, "{:?}", got[0]);
    assert_eq!(got[0].body().replace("\r\n", "\n"), japanese_mail().body);
}

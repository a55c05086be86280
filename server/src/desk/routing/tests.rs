use std::borrow::Cow;

use super::super::hours::{Span, WeeklyHours, YearEndClosure};
use super::super::query::{OmakaseContract, SiteContact};
use super::*;

fn t(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("{text}:00+09:00")).unwrap()
}

fn q(part: Part) -> RouteQuery {
    RouteQuery::new(part)
}

fn none() -> SiteContacts {
    SiteContacts::default()
}

fn has(lines: &[Cow<'static, str>], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

const NINE_FIVE: &[Span] = &[Span::hm(9, 0, 17, 0)];

fn weekday_hours() -> WeeklyHours {
    WeeklyHours {
        weekday: Cow::Borrowed(NINE_FIVE),
        saturday: Cow::Borrowed(&[]),
        sunday: Cow::Borrowed(&[]),
        holiday: Cow::Borrowed(&[]),
        year_end: Some(YearEndClosure::Dec29ToJan3),
    }
}

#[test]
fn line_fault_at_night_goes_to_113_which_never_closes() {
    let a = route(&q(Part::Line), &none(), t("2026-05-10T02:00")).unwrap();
    assert_eq!((a.desk, a.part_desk), (DeskId::Flets113, DeskId::Flets113));
    assert!(a.open);
    assert_eq!(
        (a.next_open, a.closes_at, a.closed_reason),
        (None, None, None)
    );
    assert_eq!(a.fallback, None);
    assert!(a.contacts.iter().any(|c| c.value == "0120-000-113"));
    assert!(has(&a.notes, "9:00〜17:00"));
    assert!(has(&a.notes, "保守未加入"));
}

#[test]
fn subscribed_site_without_contract_data_calls_omakase_with_113_as_fallback() {
    let query = RouteQuery {
        maintenance: Maintenance::Omakase,
        ..q(Part::Line)
    };
    let a = route(&query, &none(), t("2026-05-08T10:00")).unwrap();
    assert_eq!((a.desk, a.part_desk), (DeskId::Omakase, DeskId::Flets113));
    assert!(!a.open);
    assert_eq!(a.closed_reason, Some(ClosedReason::NoPublishedHours));
    assert_eq!(a.next_open, None);
    assert_eq!(a.fallback, Some(DeskId::Flets113));
    assert!(has(&a.notes, "契約書で"));
    assert!(has(&a.prepare, "専用ダイヤル"));
    assert!(a.part_desk_open);
}

#[test]
fn subscribed_site_with_contract_hours() {
    let site = SiteContacts {
        omakase: Some(OmakaseContract {
            dial: "0120-999-999".into(),
            hours: Some(weekday_hours()),
        }),
        ..none()
    };
    let query = RouteQuery {
        maintenance: Maintenance::Omakase,
        ..q(Part::Pc)
    };
    let a = route(&query, &site, t("2026-05-08T10:00")).unwrap();
    assert_eq!(a.desk, DeskId::Omakase);
    assert!(a.open);
    assert_eq!(a.closes_at, Some(t("2026-05-08T17:00")));
    assert_eq!(a.contacts[0].value, "0120-999-999");
    assert_eq!(a.fallback, None);
    assert!(!has(&a.notes, "契約書で"));
    assert!(has(&a.notes, "PC再設定作業等は別途費用"));
    // The PC's own warranty is still told.
    assert!(has(&a.notes, "先出しセンドバック"));
    let a = route(&query, &site, t("2026-05-08T18:00")).unwrap();
    assert!(!a.open);
    assert_eq!(a.closed_reason, Some(ClosedReason::OutsideHours));
    assert_eq!(a.next_open, Some(t("2026-05-11T09:00")));
}

#[test]
fn router_needs_a_model_and_a_matching_serial() {
    let err = route(&q(Part::Router), &none(), t("2026-05-08T10:00")).unwrap_err();
    assert_eq!(err, RouteError::MissingRouterModel);
    let msg = err.to_string();
    assert!(
        msg.contains("--router-model") && msg.contains("AT-AR1050V | NVR700 | RTX830"),
        "{msg}"
    );

    let query = RouteQuery {
        router_model: Some(RouterModel::Nvr700),
        serial: Some("S/NA1234".into()),
        ..q(Part::Router)
    };
    let err = route(&query, &none(), t("2026-05-08T10:00")).unwrap_err();
    assert!(matches!(err, RouteError::Serial(_)));
    assert!(err.to_string().contains("本体に記載"));
}

#[test]
fn allied_router_on_saturday_falls_back_to_the_call_center() {
    let query = RouteQuery {
        router_model: Some(RouterModel::AtAr1050v),
        serial: Some("S/NA0001".into()),
        ..q(Part::Router)
    };
    let a = route(&query, &none(), t("2026-05-09T10:00")).unwrap();
    assert_eq!(a.desk, DeskId::AlliedRouter);
    assert!(!a.open);
    assert_eq!(a.closed_reason, Some(ClosedReason::Weekend));
    assert_eq!(a.next_open, Some(t("2026-05-11T09:00")));
    assert_eq!(a.closes_at, Some(t("2026-05-11T17:30")));
    assert_eq!(a.fallback, Some(DeskId::OnshiCallCenter));
    assert_eq!(a.fallback_closes_at, Some(t("2026-05-09T16:00")));
    assert!(has(&a.prepare, "「S/NA」から始まる番号）: S/NA0001"));
    assert!(has(&a.notes, "5年間、オンサイトによる代替機交換"));
    // Sunday: nobody for routers.
    let a = route(&query, &none(), t("2026-05-10T10:00")).unwrap();
    assert_eq!(a.fallback, None);
}

#[test]
fn yamaha_models_go_to_the_yamaha_desk() {
    for model in [RouterModel::Nvr700, RouterModel::Rtx830] {
        let query = RouteQuery {
            router_model: Some(model),
            ..q(Part::Router)
        };
        let a = route(&query, &none(), t("2027-01-04T10:00")).unwrap();
        assert_eq!(a.desk, DeskId::YamahaRouter);
        assert_eq!(a.closed_reason, Some(ClosedReason::YearEnd));
        assert_eq!(a.next_open, Some(t("2027-01-05T09:00")));
        assert!(has(&a.prepare, "「SER.」から始まる番号"));
        assert!(has(&a.notes, "SCSK"));
    }
}

#[test]
fn pc_prepares_serial_phrase_and_mail_subject() {
    let query = RouteQuery {
        serial: Some("PF3ABCDE".into()),
        ..q(Part::Pc)
    };
    let a = route(&query, &none(), t("2026-05-08T10:00")).unwrap();
    assert_eq!(a.desk, DeskId::LenovoPc);
    assert!(a.open);
    assert_eq!(a.closes_at, Some(t("2026-05-08T17:00")));
    assert_eq!(a.next_open, Some(t("2026-05-08T10:00")));
    assert!(has(&a.prepare, "PC本体に記載のシリアル番号: PF3ABCDE"));
    assert!(has(&a.prepare, "【医療オンライン資格確認】"));
    assert!(has(&a.prepare, "【I026_01】"));
    assert!(has(&a.notes, "先出しセンドバック"));
    assert!(has(&a.notes, "別途有償"));
    assert!(has(&a.notes, "復旧は有償"));
}

#[test]
fn card_reader_needs_a_maker_and_uses_the_operators_directory() {
    let err = route(&q(Part::CardReader), &none(), t("2026-05-08T10:00")).unwrap_err();
    assert_eq!(err, RouteError::MissingReaderMaker);
    assert!(
        err.to_string()
            .contains("fujitsu | panasonic | atlus | almex | canon")
    );

    let query = RouteQuery {
        reader_maker: Some(ReaderMaker::Canon),
        ..q(Part::CardReader)
    };
    let a = route(&query, &none(), t("2026-05-08T10:00")).unwrap();
    assert_eq!(a.desk, DeskId::CardReaderMaker);
    assert!(a.name.contains("キヤノンマーケティングジャパン"));
    assert_eq!(a.closed_reason, Some(ClosedReason::NoPublishedHours));
    assert_eq!(a.fallback, Some(DeskId::OnshiCallCenter));
    assert!(has(&a.notes, "未登録"));

    let site = SiteContacts {
        reader_maker: Some(SiteContact {
            name: "キヤノン 顔認証付きカードリーダー窓口".into(),
            phones: vec!["0570-000-000".into()],
            hours: Some(weekday_hours()),
            ..SiteContact::default()
        }),
        ..none()
    };
    let a = route(&query, &site, t("2026-05-08T10:00")).unwrap();
    assert!(a.open);
    assert_eq!(a.name, "キヤノン 顔認証付きカードリーダー窓口");
    assert_eq!(a.contacts[0].value, "0570-000-000");
    assert!(!has(&a.notes, "未登録"));
}

#[test]
fn outside_the_standard_configuration_subscribed_sites_call_the_part_desk() {
    let cases = [
        (Part::ReceiptSystem, DeskId::ReceiptVendor),
        (Part::HowTo, DeskId::OnshiCallCenter),
        (Part::ChangeRequest, DeskId::NttEastOnshi),
        (Part::BillingNetwork, DeskId::SskNetwork),
        (Part::BillingSystem, DeskId::SskSystem),
        (Part::BillingTokutei, DeskId::SskTokutei),
        (Part::BillingOther, DeskId::SskOther),
    ];
    for (part, expected) in cases {
        for maintenance in [Maintenance::None, Maintenance::Omakase] {
            let query = RouteQuery {
                maintenance,
                ..q(part)
            };
            let a = route(&query, &none(), t("2026-05-08T10:00")).unwrap();
            assert_eq!((a.desk, a.part_desk), (expected, expected), "{part:?}");
        }
    }
    let query = RouteQuery {
        maintenance: Maintenance::Omakase,
        ..q(Part::ReceiptSystem)
    };
    let a = route(&query, &none(), t("2026-05-08T10:00")).unwrap();
    assert!(has(&a.notes, "対象外"));
}

#[test]
fn every_standard_part_goes_to_omakase_when_subscribed() {
    for part in Part::ALL
        .into_iter()
        .filter(|p| p.is_standard_configuration())
    {
        let query = RouteQuery {
            maintenance: Maintenance::Omakase,
            router_model: Some(RouterModel::Rtx830),
            reader_maker: Some(ReaderMaker::Fujitsu),
            ..q(part)
        };
        let a = route(&query, &none(), t("2026-05-08T10:00")).unwrap();
        assert_eq!(a.desk, DeskId::Omakase, "{part:?}");
        assert_ne!(a.part_desk, DeskId::Omakase);
        assert!(
            a.fallback.is_some(),
            "{part:?}: a weekday 10:00 fallback exists"
        );
    }
}

#[test]
fn billing_desks_cover_for_one_another() {
    // Day 11 (Thu) 19:00: the network line desk is closed, the system desk open until 21:00.
    let a = route(&q(Part::BillingNetwork), &none(), t("2026-06-11T19:00")).unwrap();
    assert_eq!(a.closed_reason, Some(ClosedReason::OutsideHours));
    assert_eq!(a.fallback, Some(DeskId::SskSystem));
    assert_eq!(a.fallback_closes_at, Some(t("2026-06-11T21:00")));
    // Day 2: the system desk has no published hours; the network desk is open.
    let a = route(&q(Part::BillingSystem), &none(), t("2026-06-02T10:00")).unwrap();
    assert_eq!(a.closed_reason, Some(ClosedReason::NoPublishedHours));
    assert_eq!(a.next_open, Some(t("2026-06-05T08:00")));
    assert_eq!(a.fallback, Some(DeskId::SskNetwork));
    assert!(has(&a.notes, "1日〜4日"));
    // ssk-other at lunch: the system desk answers.
    let a = route(&q(Part::BillingOther), &none(), t("2026-06-15T12:30")).unwrap();
    assert_eq!(a.fallback, Some(DeskId::SskSystem));
}

#[test]
fn hub_is_a_web_form() {
    let a = route(&q(Part::Hub), &none(), t("2026-01-01T03:00")).unwrap();
    assert_eq!(a.desk, DeskId::ApresiaHub);
    assert!(a.open);
    assert!(
        a.contacts
            .iter()
            .any(|c| c.value.starts_with("https://www.apresia.jp/"))
    );
    assert!(has(&a.notes, "常時受付"));
}

#[test]
fn json_has_the_contract_fields() {
    let query = RouteQuery {
        router_model: Some(RouterModel::AtAr1050v),
        ..q(Part::Router)
    };
    let a = route(
        &query,
        &none(),
        DateTime::parse_from_rfc3339("2026-05-09T01:00:00Z").unwrap(),
    );
    let v = serde_json::to_value(a.unwrap()).unwrap();
    assert_eq!(v["at"], "2026-05-09T10:00:00+09:00");
    assert_eq!(v["desk"], "allied-router");
    assert_eq!(v["part_desk"], "allied-router");
    assert_eq!(v["open"], false);
    assert_eq!(v["closed_reason"], "weekend");
    assert_eq!(v["next_open"], "2026-05-11T09:00:00+09:00");
    assert_eq!(v["closes_at"], "2026-05-11T17:30:00+09:00");
    assert_eq!(v["holiday"], serde_json::Value::Null);
    assert_eq!(
        v["contacts"][0],
        serde_json::json!({"kind": "phone", "value": "045-330-4846"})
    );
    assert_eq!(v["fallback"], "onshi-call-center");
    assert!(v["prepare"].is_array() && v["notes"].is_array());
    assert!(v["name"].is_string());

    let v = serde_json::to_value(route(&q(Part::HowTo), &none(), t("2026-05-05T10:00")).unwrap())
        .unwrap();
    assert_eq!(v["closed_reason"], "holiday");
    assert_eq!(v["holiday"], "こどもの日");
    let v = serde_json::to_value(route(&q(Part::Line), &none(), t("2026-05-05T10:00")).unwrap())
        .unwrap();
    assert_eq!(
        (&v["next_open"], &v["closes_at"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
}

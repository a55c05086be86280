//! Every kind of draft, for demo-like sites (the profile `onshi-server demo` registers).

use chrono::TimeZone;

use super::*;
use crate::desk::serial::SerialError;
use crate::escalation::directory::{DeskInput, site_contacts};
use crate::escalation::letter::{LENOVO_TAG, ONSHI_TAG};

/// Site `i` of the demo fleet, as stored (`demo-0001` is unsubscribed with an AT-AR1050V,
/// `demo-0002` subscribed to おまかせ with an NVR700).
pub(crate) fn demo_site(i: usize) -> Site {
    let input = crate::demo::fleet(i as u32 + 1).remove(i).input();
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    Site {
        site_id: input.site_id,
        name: input.name,
        prefecture: input.prefecture,
        kind: input.kind,
        reader_maker: input.reader_maker,
        router_model: input.router_model,
        has_hub: input.has_hub,
        maintenance: input.maintenance,
        omakase_dial: Some(input.omakase_dial).filter(|d| !d.is_empty()),
        receipt_vendor: Some(input.receipt_vendor).filter(|d| !d.is_empty()),
        receipt_vendor_contact: input.receipt_vendor_contact,
        medical_code: input.medical_code,
        address: input.address,
        phone: input.phone,
        contact_person: input.contact_person,
        pc_serial: input.pc_serial,
        pc_purchased_on: input.pc_purchased_on,
        router_serial: input.router_serial,
        router_purchased_on: input.router_purchased_on,
        hub_serial: input.hub_serial,
        hub_purchased_on: input.hub_purchased_on,
        closed_on_holidays: true,
        created_at: t,
        updated_at: t,
    }
}

pub(crate) fn incident(rule: Rule, subject: &str) -> IncidentFacts {
    IncidentFacts {
        id: 42,
        site_id: "demo-0001".into(),
        rule,
        subject: subject.into(),
        severity: Health::Critical,
        state: State::Open,
        title: "オン資PCから10:00以降報告がありません".into(),
        detail: "PCの電源と起動を確認してください。".into(),
        evidence: serde_json::json!({ "last_seen": "2026-03-02T10:00:00+09:00" }),
        first_seen: Utc.with_ymd_and_hms(2026, 3, 2, 1, 15, 0).unwrap(),
        last_seen: Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap(),
        count: 3,
    }
}

fn t(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("{text}:00+09:00")).unwrap()
}

/// Monday 2026-03-02 11:00 JST: every weekday desk is open.
fn monday() -> DateTime<FixedOffset> {
    t("2026-03-02T11:00")
}

const HOURS: &str = "月〜金 9:00〜18:00（祝日・年末年始は休み）";

fn draft_for(
    site: &Site,
    incident: &IncidentFacts,
    contacts: &SiteContacts,
    req: Request,
    at: DateTime<FixedOffset>,
) -> Result<Draft, DraftError> {
    let facts = Facts {
        incident,
        site,
        site_hours_ja: HOURS,
        contacts,
        operator: "sato",
    };
    build(&facts, &req, at)
}

fn plain(site: &Site, incident: &IncidentFacts, req: Request) -> Result<Draft, DraftError> {
    draft_for(
        site,
        incident,
        &site_contacts(site, None, None),
        req,
        monday(),
    )
}

#[test]
fn the_lenovo_draft_for_a_demo_site_follows_the_guide() {
    let site = demo_site(0);
    let d = plain(&site, &incident(Rule::Offline, ""), Request::default()).unwrap();
    assert_eq!(d.desk, DeskId::LenovoPc);
    assert_eq!(d.channel, Channel::Mail);
    // guide 1-8-3: request@nmc.comsys.co.jp, subject with 【I026_01】 (and 【医療オンライン資格確認】).
    assert_eq!(d.to, "request@nmc.comsys.co.jp");
    assert!(
        d.subject
            .starts_with("【I026_01】【医療オンライン資格確認】"),
        "{}",
        d.subject
    );
    assert!(d.subject.contains(LENOVO_TAG) && d.subject.contains(ONSHI_TAG));
    assert!(d.subject.contains(&site.name));
    assert!(!d.subject.contains('\n'));
    // The body: the PC serial, the site (name, address, phone, 医療機関コード), the symptom,
    // the contact person and the site's hours.
    for needle in [
        "シリアル番号（PC本体に記載）\n  PF000001",
        &format!("医療機関等名称: {}", site.name),
        "医療機関等コード: 1310000001",
        &format!("所在地: {}", site.address),
        "電話番号: 03-5000-0001",
        "ご担当者: 受付 担当",
        &format!("営業時間: {HOURS}"),
        "オン資PC 停止中: オン資PCから10:00以降報告がありません",
        "検知: 2026-03-02 10:15 〜 2026-03-02 11:00（3回の報告で確認）",
        "先出しセンドバック",
        "担当: sato",
    ] {
        assert!(d.body.contains(needle), "{needle}\n{}", d.body);
    }
    assert_eq!(d.serial, "PF000001");
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    // The sheet says the desk is open now, and its phone as the alternative.
    assert!(d.route.open);
    assert!(
        d.sheet.contains("050-3823-0119") && d.sheet.contains("受付中"),
        "{}",
        d.sheet
    );
}

#[test]
fn a_lenovo_draft_needs_the_serial_and_warns_about_what_the_site_lacks() {
    let mut site = demo_site(0);
    site.pc_serial.clear();
    site.medical_code.clear();
    let inc = incident(Rule::Offline, "");
    let e = plain(&site, &inc, Request::default()).unwrap_err();
    assert_eq!(e.field(), "serial");
    assert!(e.to_string().contains("PC本体に記載のシリアル番号"), "{e}");
    let d = plain(
        &site,
        &inc,
        Request {
            serial: Some(" PF3ABCDE ".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.serial, "PF3ABCDE");
    assert!(d.body.contains("医療機関等コード: （未登録）"));
    assert!(d.warnings.iter().any(|w| w.contains("医療機関等コード")));
    // Bought more than 5 years ago: out of the replacement window.
    site.pc_purchased_on = chrono::NaiveDate::from_ymd_opt(2020, 4, 1);
    let d = plain(
        &site,
        &inc,
        Request {
            serial: Some("PF3ABCDE".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        d.warnings.iter().any(|w| w.contains("5年を過ぎて")),
        "{:?}",
        d.warnings
    );
    let e = plain(
        &site,
        &inc,
        Request {
            serial: Some("PF3 ABC".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, DraftError::Serial(SerialError::BadCharacters)));
}

#[test]
fn a_router_call_sheet_has_the_number_the_hours_and_the_checked_serial() {
    let site = demo_site(0); // AT-AR1050V, unsubscribed
    let inc = incident(Rule::NetworkUnreachable, "router");
    let d = plain(&site, &inc, Request::default()).unwrap();
    assert_eq!(d.desk, DeskId::AlliedRouter);
    assert_eq!(d.channel, Channel::Phone);
    assert_eq!(d.to, "045-330-4846");
    assert_eq!(d.serial, "S/NA00000001");
    assert!(d.subject.is_empty());
    for needle in [
        "【伝えること】",
        "ルータ（AT-AR1050V）の故障受付",
        "シリアル番号: S/NA00000001（ルータ本体に記載の「S/NA」から始まる番号）",
        "購入日: 2021-04-01",
        &site.name,
        "【用意するもの】",
    ] {
        assert!(d.body.contains(needle), "{needle}\n{}", d.body);
    }
    // Bought 2021-04-01: the 5-year window ends 2026-04-01, still inside on 2026-03-02.
    assert!(!d.warnings.iter().any(|w| w.contains("5年")));
    assert!(
        d.sheet.contains("受付中（2026-03-02(月) 17:30 まで）"),
        "{}",
        d.sheet
    );
}

#[test]
fn a_serial_without_the_desks_prefix_is_refused_with_the_expected_form() {
    let site = demo_site(0);
    let inc = incident(Rule::NetworkUnreachable, "router");
    let e = plain(
        &site,
        &inc,
        Request {
            serial: Some("SER.12345".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.field(), "serial");
    let text = e.to_string();
    assert!(
        text.contains("「S/NA」から始まる番号") && text.contains("YAMAHA"),
        "{text}"
    );
    // YAMAHA's desk wants SER.
    let yamaha = Site {
        router_model: Some(crate::sites::RouterModel::Rtx830),
        router_serial: "SER.S4L000001".into(),
        ..site.clone()
    };
    let d = plain(&yamaha, &inc, Request::default()).unwrap();
    assert_eq!(
        (d.desk, d.to.as_str()),
        (DeskId::YamahaRouter, "0120-523-453")
    );
    let e = plain(
        &yamaha,
        &inc,
        Request {
            serial: Some("S4L000001".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("「SER.」から始まる番号"), "{e}");
    // No serial at all: the form is named.
    let none = Site {
        router_serial: String::new(),
        ..yamaha
    };
    let e = plain(&none, &inc, Request::default()).unwrap_err();
    assert!(e.to_string().contains("「SER.」から始まる番号"), "{e}");
}

#[test]
fn a_closed_desk_says_when_it_opens_and_who_is_open_now() {
    let site = demo_site(0);
    let inc = incident(Rule::NetworkUnreachable, "router");
    // Saturday 2026-03-07 10:00: Allied is closed; the call center is open until 16:00.
    let d = draft_for(
        &site,
        &inc,
        &site_contacts(&site, None, None),
        Request::default(),
        t("2026-03-07T10:00"),
    )
    .unwrap();
    assert!(!d.route.open);
    assert_eq!(d.route.next_open, Some(t("2026-03-09T09:00")));
    assert_eq!(d.route.fallback, Some(DeskId::OnshiCallCenter));
    for needle in [
        "受付していません — 土日のため休み",
        "次の受付開始: 2026-03-09(月) 09:00",
        "【今つながる窓口】オンライン資格確認等コールセンター",
        "0800-080-4583",
    ] {
        assert!(d.sheet.contains(needle), "{needle}\n{}", d.sheet);
    }
}

#[test]
fn a_subscribed_site_calls_omakase_first_and_an_unsubscribed_one_cannot() {
    let subscribed = demo_site(1);
    assert_eq!(subscribed.maintenance, Maintenance::Omakase);
    let inc = incident(Rule::Offline, "");
    let d = plain(&subscribed, &inc, Request::default()).unwrap();
    assert_eq!(d.desk, DeskId::Omakase);
    assert_eq!((d.channel, d.to.as_str()), (Channel::Phone, "0120-000-000"));
    assert!(d.body.contains("問診切り分け"), "{}", d.body);
    // The part's desk can still be chosen; the draft reminds that おまかせ goes first.
    let d = plain(
        &subscribed,
        &inc,
        Request {
            desk: Some(DeskId::LenovoPc),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(d.warnings.iter().any(|w| w.contains("おまかせ")));

    let unsubscribed = demo_site(0);
    let e = plain(
        &unsubscribed,
        &inc,
        Request {
            desk: Some(DeskId::Omakase),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.field(), "desk");
    let text = e.to_string();
    assert!(
        text.contains("加入していません") && text.contains("レノボPC"),
        "{text}"
    );
    // Subscribed but the dial is not on record.
    let no_dial = Site {
        omakase_dial: None,
        ..subscribed.clone()
    };
    let e = plain(&no_dial, &inc, Request::default()).unwrap_err();
    assert!(e.to_string().contains("/admin/sites/demo-0002"), "{e}");
    // おまかせ does not cover the receipt system.
    let receipt = IncidentFacts {
        rule: Rule::ShareMissing,
        ..inc
    };
    let e = plain(
        &subscribed,
        &receipt,
        Request {
            desk: Some(DeskId::Omakase),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("標準の構成"), "{e}");
}

#[test]
fn desks_for_equipment_the_site_does_not_have_are_refused() {
    let site = demo_site(0); // AT-AR1050V, no hub
    let inc = incident(Rule::Offline, "");
    let ask = |desk| {
        plain(
            &site,
            &inc,
            Request {
                desk: Some(desk),
                ..Default::default()
            },
        )
    };
    let e = ask(DeskId::YamahaRouter).unwrap_err();
    assert!(matches!(e, DraftError::WrongRouter { .. }));
    assert!(e.to_string().contains("アライドテレシス"), "{e}");
    let e = ask(DeskId::ApresiaHub).unwrap_err();
    assert!(e.to_string().contains("HUB"), "{e}");
    let no_reader = Site {
        reader_maker: None,
        ..site.clone()
    };
    let e = plain(
        &no_reader,
        &inc,
        Request {
            desk: Some(DeskId::CardReaderMaker),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("カードリーダー"), "{e}");
    let no_vendor = Site {
        receipt_vendor: None,
        ..site.clone()
    };
    let e = plain(
        &no_vendor,
        &inc,
        Request {
            desk: Some(DeskId::ReceiptVendor),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("レセコン業者"), "{e}");
    // A rule without a part needs a desk chosen.
    let e = plain(
        &site,
        &incident(Rule::NoDailyReboot, ""),
        Request::default(),
    )
    .unwrap_err();
    assert!(matches!(e, DraftError::NoDesk { .. }));
}

#[test]
fn the_reader_makers_desk_comes_from_the_directory_or_says_unregistered() {
    let site = demo_site(0); // Fujitsu reader
    let inc = incident(Rule::ReaderOff, "");
    let e = plain(&site, &inc, Request::default()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("未登録") && text.contains("/admin/makers"),
        "{text}"
    );
    assert!(text.contains("富士通Japan"), "{text}");

    let phone = DeskInput {
        name: "富士通Japan 顔認証リーダー窓口".into(),
        phone: "0120-000-001".into(),
        weekday: "09:00-17:00".into(),
        ..Default::default()
    }
    .check()
    .unwrap();
    let contacts = site_contacts(&site, Some(&phone), None);
    let d = draft_for(&site, &inc, &contacts, Request::default(), monday()).unwrap();
    assert_eq!(d.desk, DeskId::CardReaderMaker);
    assert_eq!((d.channel, d.to.as_str()), (Channel::Phone, "0120-000-001"));
    assert_eq!(d.desk_name, "富士通Japan 顔認証リーダー窓口");
    assert!(d.route.open, "recorded hours are used");

    // A maker reachable by mail only gets a mail with the tag.
    let mail = DeskInput {
        mail: "reader@example.co.jp".into(),
        ..Default::default()
    }
    .check()
    .unwrap();
    let contacts = site_contacts(&site, Some(&mail), None);
    let d = draft_for(&site, &inc, &contacts, Request::default(), monday()).unwrap();
    assert_eq!(
        (d.channel, d.to.as_str()),
        (Channel::Mail, "reader@example.co.jp")
    );
    assert!(d.subject.starts_with(ONSHI_TAG) && d.subject.contains("カードリーダー"));
}

#[test]
fn the_receipt_vendor_draft_uses_the_sites_contact() {
    let site = demo_site(0); // デモメディカルシステム 0120-111-222
    let inc = incident(Rule::ShareMissing, "face");
    let d = plain(
        &site,
        &inc,
        Request {
            desk: Some(DeskId::ReceiptVendor),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.desk_name, "デモメディカルシステム");
    assert_eq!((d.channel, d.to.as_str()), (Channel::Phone, "0120-111-222"));
    assert!(d.body.contains("レセコン等"), "{}", d.body);
    let no_contact = Site {
        receipt_vendor_contact: String::new(),
        ..site
    };
    let e = plain(
        &no_contact,
        &inc,
        Request {
            desk: Some(DeskId::ReceiptVendor),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("/admin/receipt-vendors"), "{e}");
}

#[test]
fn ntt_east_the_call_center_113_and_shiharai_kikin_get_call_sheets() {
    let site = demo_site(0);
    let cases = [
        (
            Rule::AccountChanged,
            "",
            DeskId::NttEastOnshi,
            "0120-087-033",
        ),
        (
            Rule::CertExpired,
            "",
            DeskId::OnshiCallCenter,
            "0800-080-4583",
        ),
        (
            Rule::NetworkUnreachable,
            "portal",
            DeskId::Flets113,
            "0120-000-113 / 113",
        ),
    ];
    for (rule, subject, desk, to) in cases {
        let d = plain(&site, &incident(rule, subject), Request::default()).unwrap();
        assert_eq!(
            (d.desk, d.channel, d.to.as_str()),
            (desk, Channel::Phone, to),
            "{rule:?}"
        );
        assert!(d.body.contains("【伝えること】"));
    }
    for desk in [
        DeskId::SskNetwork,
        DeskId::SskSystem,
        DeskId::SskTokutei,
        DeskId::SskOther,
    ] {
        let d = plain(
            &site,
            &incident(Rule::Offline, ""),
            Request {
                desk: Some(desk),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((d.desk, d.channel), (desk, Channel::Phone));
        assert!(d.body.contains("支払基金"), "{desk:?}: {}", d.body);
    }
}

#[test]
fn the_apresia_draft_is_the_web_form_and_what_to_enter() {
    let site = Site {
        has_hub: true,
        hub_serial: "AP1234567".into(),
        ..demo_site(0)
    };
    let d = plain(
        &site,
        &incident(Rule::NetworkUnreachable, "router"),
        Request {
            desk: Some(DeskId::ApresiaHub),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.channel, Channel::WebForm);
    assert_eq!(
        d.to,
        "https://www.apresia.jp/products/apresialight/support/contact/index.php"
    );
    for needle in [
        "2.代品提供サービス",
        "スモールビジネス向けスイッチ",
        "RMA/DOA対応(修理・代品受付)",
        "製品名: ApresiaLightGC105-SS",
        "シリアル番号: AP1234567",
    ] {
        assert!(d.body.contains(needle), "{needle}\n{}", d.body);
    }
}

#[test]
fn every_desk_is_its_parts_own_desk() {
    use crate::desk::RouterModel;
    for desk in DeskId::ALL {
        if desk == DeskId::Omakase {
            continue;
        }
        let model = match desk {
            DeskId::YamahaRouter => RouterModel::Nvr700,
            _ => RouterModel::AtAr1050v,
        };
        assert_eq!(
            crate::desk::routing::part_desk(part_of(desk, None), model),
            desk
        );
    }
}

//! The directories' checks and the site contacts they give.

use super::*;

fn input() -> DeskInput {
    DeskInput {
        name: "富士通Japan 顔認証リーダー窓口".into(),
        phone: "0120-000-001".into(),
        weekday: "09:00-12:00, 13:00-17:00".into(),
        year_end: "dec29-jan3".into(),
        ..Default::default()
    }
}

#[test]
fn a_desk_needs_one_way_to_reach_it_and_checked_values() {
    let entry = input().check().unwrap();
    let hours = entry.hours.clone().unwrap();
    assert_eq!(hours.weekday.len(), 2);
    assert!(hours.saturday.is_empty());
    assert_eq!(hours.year_end, Some(YearEndClosure::Dec29ToJan3));
    assert!(entry.hours_ja().contains("平日 9:00〜12:00、13:00〜17:00"));
    // Round trip through the form.
    assert_eq!(DeskInput::from_entry(&entry).check().unwrap(), entry);

    let errors = DeskInput {
        name: "x".into(),
        ..Default::default()
    }
    .check()
    .unwrap_err();
    assert!(errors.get("phone").unwrap().contains("どれか一つ"));

    let errors = DeskInput {
        phone: "call us".into(),
        mail: "not a mail".into(),
        web: "javascript:alert(1)".into(),
        weekday: "9-17".into(),
        year_end: "always".into(),
        name: "a\u{202E}b".into(),
        ..Default::default()
    }
    .check()
    .unwrap_err();
    for field in ["phone", "mail", "web", "weekday", "year_end", "name"] {
        assert!(errors.get(field).is_some(), "{field}: {errors:?}");
    }
    assert!(errors.get("weekday").unwrap().contains("09:00-18:00"));
    // No hours at all is "not recorded", not "closed".
    let entry = DeskInput {
        mail: "support@example.co.jp".into(),
        ..Default::default()
    }
    .check()
    .unwrap();
    assert_eq!(entry.hours, None);
    assert_eq!(entry.hours_ja(), "未登録");
}

#[test]
fn mail_addresses_cannot_carry_headers() {
    assert!(looks_like_mail("request@nmc.comsys.co.jp"));
    assert!(!looks_like_mail("a@b.jp\r\nBcc: x@y.jp"));
    assert!(!looks_like_mail("a b@c.jp"));
    assert!(!looks_like_mail("@c.jp") && !looks_like_mail("a@jp"));
}

fn site() -> Site {
    let mut site = crate::escalation::draft::tests::demo_site(1);
    site.receipt_vendor = Some("デモメディカルシステム".into());
    site.receipt_vendor_contact = String::new();
    site
}

#[test]
fn the_sites_own_vendor_contact_wins_over_the_directory() {
    let directory = DeskInput {
        phone: "0120-999-999".into(),
        web: "https://vendor.example.jp/support".into(),
        weekday: "09:00-18:00".into(),
        ..Default::default()
    }
    .check()
    .unwrap();
    let from_directory = site_contacts(&site(), None, Some(&directory));
    let vendor = from_directory.receipt_vendor.unwrap();
    assert_eq!(vendor.phones, ["0120-999-999"]);
    assert_eq!(vendor.name, "デモメディカルシステム");

    let own = Site {
        receipt_vendor_contact: "03-1111-2222 / help@vendor.example.jp".into(),
        ..site()
    };
    let vendor = site_contacts(&own, None, Some(&directory))
        .receipt_vendor
        .unwrap();
    assert_eq!(vendor.phones, ["03-1111-2222"]);
    assert_eq!(vendor.mail.as_deref(), Some("help@vendor.example.jp"));
    // Hours come from the directory even then.
    assert!(vendor.hours.is_some());

    let none = Site {
        receipt_vendor: None,
        ..site()
    };
    assert_eq!(
        site_contacts(&none, None, Some(&directory)).receipt_vendor,
        None
    );
    let unknown = site_contacts(&site(), None, None).receipt_vendor.unwrap();
    assert!(unknown.phones.is_empty() && unknown.mail.is_none());
}

#[test]
fn the_maker_directory_fills_the_reader_desk() {
    let entry = input().check().unwrap();
    let contacts = site_contacts(&site(), Some(&entry), None);
    let maker = contacts.reader_maker.unwrap();
    assert_eq!(maker.name, "富士通Japan 顔認証リーダー窓口");
    assert_eq!(maker.phones, ["0120-000-001"]);
    let unnamed = DeskEntry {
        name: String::new(),
        ..entry
    };
    let maker = site_contacts(&site(), Some(&unnamed), None)
        .reader_maker
        .unwrap();
    assert!(maker.name.ends_with("サポート窓口"), "{}", maker.name);
    assert_eq!(site_contacts(&site(), None, None).reader_maker, None);
}

//! The desk answer each incident carries (issue 11): which desk handles the rule's part at this
//! site, open now or when, what to prepare — so nobody looks it up by hand. Pure: the site's
//! profile feeds desk routing as in `GET /api/v1/desk/route?site_id=` (domain.md §4).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::rules::Rule;
use crate::desk::{
    self, JST, OmakaseContract, RouteAnswer, RouteError, RouteQuery, SiteContact, SiteContacts,
};
use crate::sites::Site;

/// The routing question for `part` at `site`.
pub fn query_for(part: desk::Part, site: &Site) -> RouteQuery {
    RouteQuery {
        router_model: site.router_model,
        reader_maker: site.reader_maker,
        maintenance: site.maintenance,
        ..RouteQuery::new(part)
    }
}

/// The site-specific desks recorded in its profile.
pub fn contacts_for(site: &Site) -> SiteContacts {
    SiteContacts {
        omakase: site
            .omakase_dial
            .clone()
            .map(|dial| OmakaseContract { dial, hours: None }),
        reader_maker: None,
        receipt_vendor: site.receipt_vendor.clone().map(|name| SiteContact {
            name,
            phones: (!site.receipt_vendor_contact.is_empty())
                .then(|| site.receipt_vendor_contact.clone())
                .into_iter()
                .collect(),
            ..Default::default()
        }),
    }
}

/// Routing for `part` at `site` at `now`, with the site's profile and contacts and the unit's
/// serial from the profile (so "what to prepare" names it). A serial routing refuses (a wrong
/// prefix recorded before the check existed) is left out rather than failing the answer.
pub fn route_part(
    part: desk::Part,
    site: &Site,
    now: DateTime<Utc>,
) -> Result<RouteAnswer, RouteError> {
    let at = now.with_timezone(&JST);
    let contacts = contacts_for(site);
    let serial = match part {
        desk::Part::Pc => &site.pc_serial,
        desk::Part::Router => &site.router_serial,
        desk::Part::Hub => &site.hub_serial,
        _ => "",
    };
    let plain = query_for(part, site);
    if !serial.is_empty() {
        let with_serial = RouteQuery {
            serial: Some(serial.to_owned()),
            ..plain.clone()
        };
        if let Ok(answer) = desk::route(&with_serial, &contacts, at) {
            return Ok(answer);
        }
    }
    desk::route(&plain, &contacts, at)
}

/// The desk answer for an incident's rule: `None` for rules without a part.
pub fn route_for(
    rule: Rule,
    subject: &str,
    site: &Site,
    now: DateTime<Utc>,
) -> Option<Result<RouteAnswer, RouteError>> {
    rule.part(subject).map(|part| route_part(part, site, now))
}

/// One row of a site's 「今すぐ連絡」 panel: a part and who to call for it now.
#[derive(Debug, Clone)]
pub struct PartContact {
    pub part: desk::Part,
    pub answer: Result<RouteAnswer, RouteError>,
}

/// Every part of the site's installation (domain.md §1) with the desk to call now; the hub
/// only when the site has one. Routing decides everything (a subscribed site gets おまかせ
/// first for its standard configuration, domain.md §4).
pub fn panel(site: &Site, now: DateTime<Utc>) -> Vec<PartContact> {
    desk::Part::ALL
        .into_iter()
        .filter(|p| *p != desk::Part::Hub || site.has_hub)
        .map(|part| PartContact {
            part,
            answer: route_part(part, site, now),
        })
        .collect()
}

/// The desk answer as JSON: `null` for rules without a part; when the profile lacks what
/// routing needs (router model, reader maker), an object with `desk: null` and `error` saying
/// what to record.
pub fn answer(rule: Rule, subject: &str, site: Option<&Site>, now: DateTime<Utc>) -> Value {
    let Some(part) = rule.part(subject) else {
        return Value::Null;
    };
    let Some(site) = site else {
        return Value::Null;
    };
    let routed = route_part(part, site, now);
    match routed {
        Ok(a) => serde_json::to_value(a).unwrap_or(Value::Null),
        Err(e) => json!({
            "desk": null,
            "open": null,
            "next_open": null,
            "part": part,
            "error": format!("{e}（サイトのプロフィールに登録してください）"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sites::{Maintenance, ReaderMaker, RouterModel, SiteKind};

    fn site() -> Site {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Site {
            site_id: "s1".into(),
            name: "山田医院".into(),
            prefecture: "東京都".into(),
            kind: SiteKind::Clinic,
            reader_maker: Some(ReaderMaker::Fujitsu),
            router_model: Some(RouterModel::AtAr1050v),
            has_hub: false,
            maintenance: Maintenance::None,
            omakase_dial: None,
            receipt_vendor: None,
            receipt_vendor_contact: String::new(),
            medical_code: String::new(),
            address: String::new(),
            phone: String::new(),
            contact_person: String::new(),
            pc_serial: String::new(),
            pc_purchased_on: None,
            router_serial: String::new(),
            router_purchased_on: None,
            hub_serial: String::new(),
            hub_purchased_on: None,
            closed_on_holidays: true,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn the_rules_part_is_routed_with_the_sites_profile() {
        // Monday 2026-03-02 11:00 JST.
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let a = answer(Rule::ReaderOff, "", Some(&site()), now);
        assert!(a["desk"].is_string(), "{a}");
        assert!(a["open"].is_boolean() && a.get("next_open").is_some());
        assert!(a["prepare"].is_array() && a.get("fallback").is_some());
        let router = answer(Rule::NetworkUnreachable, "router", Some(&site()), now);
        assert_ne!(router["desk"], a["desk"]);
        assert!(answer(Rule::NoDailyReboot, "", Some(&site()), now).is_null());
        let unknown_maker = Site {
            reader_maker: None,
            ..site()
        };
        let e = answer(Rule::ReaderOff, "", Some(&unknown_maker), now);
        assert!(e["desk"].is_null() && e["error"].is_string(), "{e}");
    }

    #[test]
    fn the_panel_routes_every_part_with_the_profile_and_its_serials() {
        // Saturday 2026-03-07 10:00 JST: Lenovo closed, the call center open until 16:00.
        let now = Utc.with_ymd_and_hms(2026, 3, 7, 1, 0, 0).unwrap();
        let s = Site {
            pc_serial: "PF1ABCDE".into(),
            router_serial: "S/NA12345".into(),
            ..site()
        };
        let rows = panel(&s, now);
        assert!(!rows.iter().any(|r| r.part == desk::Part::Hub), "no hub");
        let pc = rows.iter().find(|r| r.part == desk::Part::Pc).unwrap();
        let pc = pc.answer.as_ref().unwrap();
        assert_eq!(pc.desk, desk::DeskId::LenovoPc);
        assert!(!pc.open && pc.fallback == Some(desk::DeskId::OnshiCallCenter));
        assert!(pc.prepare.iter().any(|p| p.contains("PF1ABCDE")), "{pc:?}");
        let router = rows.iter().find(|r| r.part == desk::Part::Router).unwrap();
        let router = router.answer.as_ref().unwrap();
        assert!(router.prepare.iter().any(|p| p.contains("S/NA12345")));
        // A subscribed site calls おまかせ first for its standard configuration only.
        let subscribed = Site {
            maintenance: Maintenance::Omakase,
            omakase_dial: Some("0120-000-000".into()),
            has_hub: true,
            ..s
        };
        let rows = panel(&subscribed, now);
        let desk_of = |p| {
            rows.iter()
                .find(|r| r.part == p)
                .unwrap()
                .answer
                .as_ref()
                .unwrap()
                .desk
        };
        assert_eq!(desk_of(desk::Part::Hub), desk::DeskId::Omakase);
        assert_eq!(desk_of(desk::Part::Pc), desk::DeskId::Omakase);
        assert_eq!(
            desk_of(desk::Part::ReceiptSystem),
            desk::DeskId::ReceiptVendor
        );
        assert_eq!(desk_of(desk::Part::HowTo), desk::DeskId::OnshiCallCenter);
        // A serial with the wrong prefix recorded earlier does not break the answer.
        let wrong = Site {
            router_serial: "SER.999".into(),
            ..site()
        };
        assert!(route_part(desk::Part::Router, &wrong, now).is_ok());
    }
}

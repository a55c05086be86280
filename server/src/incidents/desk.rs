//! The desk answer each incident carries (issue 11): which desk handles the rule's part at this
//! site, open now or when, what to prepare — so nobody looks it up by hand. Pure: the site's
//! profile feeds desk routing as in `GET /api/v1/desk/route?site_id=` (domain.md §4).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::rules::Rule;
use crate::desk::{self, JST, OmakaseContract, RouteQuery, SiteContact, SiteContacts};
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
    let routed = desk::route(
        &query_for(part, site),
        &contacts_for(site),
        now.with_timezone(&JST),
    );
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
}

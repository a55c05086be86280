//! Desk answers on pages (site page panel, incident detail, `/desks`): links for contacts.
//! The answers themselves come from `desk::route` only; this formats them.

use crate::desk::{Contact, ContactKind};

/// A link for a contact (`tel:`, `mailto:`, a web page), or `None` when it is text to read
/// (a mail subject, web-form steps, "per contract").
pub fn contact_href(c: &Contact) -> Option<String> {
    let value = c.value.trim();
    match c.kind {
        ContactKind::Phone => {
            // The first number of "03-3591-7116 / 03-3591-7117" style values, digits only.
            let first = value.split(['/', '、', ' ']).next().unwrap_or(value);
            let digits: String = first.chars().filter(char::is_ascii_digit).collect();
            (digits.len() >= 3).then(|| format!("tel:{digits}"))
        }
        ContactKind::Mail => value.contains('@').then(|| format!("mailto:{value}")),
        ContactKind::Web => (value.starts_with("https://") || value.starts_with("http://"))
            .then(|| value.to_owned()),
        ContactKind::MailSubject | ContactKind::WebForm | ContactKind::Contract => None,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn c(kind: ContactKind, value: &'static str) -> Contact {
        Contact {
            kind,
            value: Cow::Borrowed(value),
        }
    }

    #[test]
    fn phones_mail_and_web_become_links_other_text_does_not() {
        assert_eq!(
            contact_href(&c(ContactKind::Phone, "0800-080-4583")).as_deref(),
            Some("tel:08000804583")
        );
        assert_eq!(
            contact_href(&c(ContactKind::Phone, "03-3591-7116 / 03-3591-7117")).as_deref(),
            Some("tel:0335917116")
        );
        assert_eq!(
            contact_href(&c(ContactKind::Mail, "request@nmc.comsys.co.jp")).as_deref(),
            Some("mailto:request@nmc.comsys.co.jp")
        );
        assert_eq!(
            contact_href(&c(ContactKind::Web, "javascript:alert(1)")),
            None
        );
        assert_eq!(
            contact_href(&c(ContactKind::MailSubject, "【I026_01】")),
            None
        );
    }
}

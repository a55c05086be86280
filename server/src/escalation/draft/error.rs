//! Why no draft can be made as asked, in Japanese, with the field it belongs to and the page
//! where the missing data is entered.

use super::field_error;
use crate::desk::serial::SerialError;
use crate::error::Error;

/// Why no draft can be made as asked. Messages are Japanese and say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("この障害（{rule}）には決まった連絡先の窓口がありません。連絡する窓口を選んでください")]
    NoDesk { rule: &'static str },
    #[error(
        "サイト「{site}」は「Nにおまかせ！ITサポート」に加入していません（保守: 未加入）。おまかせの窓口には依頼できません。{hint}"
    )]
    NotSubscribed { site: String, hint: String },
    #[error(
        "「Nにおまかせ！ITサポート」は当社標準の構成（PC・ルータ・HUB・光回線・カードリーダー）が対象です。この障害（{rule}）は {desk} に連絡してください"
    )]
    OutsideOmakase {
        rule: &'static str,
        desk: &'static str,
    },
    #[error(
        "サイト「{site}」には{what}が登録されていないため、{desk}には依頼できません。設置されている場合は {page} で登録してください"
    )]
    NotOnSite {
        site: String,
        what: &'static str,
        desk: &'static str,
        page: String,
    },
    #[error(
        "サイト「{site}」のルータは {model} です。{chosen} ではなく {right} に連絡してください"
    )]
    WrongRouter {
        site: String,
        model: &'static str,
        chosen: &'static str,
        right: &'static str,
    },
    #[error(
        "{desk}の連絡先は未登録です。{page} で電話番号・メール・web フォームを登録してから、もう一度作成してください"
    )]
    NotRegistered {
        desk: String,
        page: String,
        fix: FixAt,
    },
    #[error("{0}")]
    Serial(#[from] SerialError),
    #[error(
        "{desk}にはシリアル番号（{form}）が必要です。シリアル番号を入力してください（サイト情報に登録しておくこともできます）"
    )]
    SerialMissing { desk: &'static str, form: String },
}

/// Where the data a draft lacks is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixAt {
    /// The site's profile (/admin/sites/{id}).
    Site,
    /// The maker directory (/admin/makers).
    Makers,
    /// The receipt-vendor directory (/admin/receipt-vendors), or the site's profile.
    ReceiptVendors,
}

impl DraftError {
    /// Pages where the missing data can be entered: (label, path), for links next to the
    /// message.
    pub fn fix_pages(&self, site_id: &str) -> Vec<(&'static str, String)> {
        let site = ("サイトの編集", format!("/admin/sites/{site_id}"));
        match self {
            DraftError::NotOnSite { .. } => vec![site],
            DraftError::NotRegistered { fix, .. } => match fix {
                FixAt::Site => vec![site],
                FixAt::Makers => vec![("メーカー窓口を登録する", "/admin/makers".into())],
                FixAt::ReceiptVendors => vec![
                    ("レセコン業者を登録する", "/admin/receipt-vendors".into()),
                    site,
                ],
            },
            _ => Vec::new(),
        }
    }

    /// The input field the problem belongs to.
    pub fn field(&self) -> &'static str {
        match self {
            DraftError::Serial(_) | DraftError::SerialMissing { .. } => "serial",
            _ => "desk",
        }
    }
}

impl From<DraftError> for Error {
    fn from(e: DraftError) -> Self {
        field_error(e.field(), e.to_string())
    }
}

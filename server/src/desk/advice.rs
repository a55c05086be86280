//! What to have ready (`prepare`) and what to know (`notes`) for a routed call, worded for the
//! operator in Japanese. Every line comes from the guide (section noted) or domain.md.

use std::borrow::Cow;

use super::directory::{self, DeskId};
use super::hours::ClosedReason;
use super::query::{Maintenance, OmakaseContract, Part, RouteQuery, RouterModel};
use super::serial::router_prefix;

/// Everything the wording depends on.
pub(super) struct Facts<'a> {
    pub query: &'a RouteQuery,
    pub model: Option<RouterModel>,
    /// The checked serial, if given.
    pub serial: Option<&'a str>,
    /// The desk to call first.
    pub first: DeskId,
    /// The part's own desk.
    pub own: DeskId,
    pub own_contact_known: bool,
    pub omakase_contract: Option<&'a OmakaseContract>,
    pub closed_reason: Option<ClosedReason>,
}

type Lines = Vec<Cow<'static, str>>;

const SITE_DETAILS: &str =
    "施設の情報（医療機関等の名称、医療機関等コード、所在地、電話番号、ご担当者名）";
const ONSHI_PHRASE: &str = "窓口に【医療オンライン資格確認】の端末であることを伝える";
const LENOVO_MAIL: &str = "メールで申告する場合は request@nmc.comsys.co.jp 宛て、件名に【I026_01】（または【医療オンライン資格確認】）を付ける";
const ACCOUNT_CHARGE: &str =
    "Windows・顔認証・連携アカウントをお客様が単独で変更したことによるトラブルの復旧は有償です";
const UNSUBSCRIBED: &str =
    "保守未加入の場合、故障個所の切り分けと各窓口への連絡はお客様ご自身で行う必要があります";
const OMAKASE_SCOPE: &str = "「Nにおまかせ！ITサポート」: お電話での問診切り分けサポートと訪問における故障切り分け。当社標準の構成が対象です（レセコン、その他のルータ等は対象外）";
const OMAKASE_CHARGE: &str = "トラブル発生に伴うPC再設定作業等は別途費用が発生します";
const OMAKASE_UNKNOWN: &str = "このサイトの「Nにおまかせ」契約（専用ダイヤル・受付時間）が登録されていないため、受付時間外として扱っています。契約書でご契約後に案内された専用ダイヤルと受付時間を確認してください";
const NETWORK_CHANGE: &str = "院内ネットワークの変更（配線変更・回線変更など）はNTT東日本に相談のうえ行ってください。無断の変更は連携や自動更新の停止の原因になります";

/// What to have ready.
pub(super) fn prepare(f: &Facts<'_>) -> Lines {
    let mut out: Lines = vec![Cow::Borrowed(SITE_DETAILS)];
    if f.first == DeskId::Omakase && f.omakase_contract.is_none() {
        out.push(Cow::Borrowed(
            "ご契約後に案内された専用ダイヤル（専用番号）（契約書を確認）",
        ));
    }
    let serial_suffix = |serial: Option<&str>| match serial {
        Some(s) => format!(": {s}"),
        None => String::new(),
    };
    match f.query.part {
        Part::Pc => {
            // guide 1-8-3: シリアル番号（PC本体に記載）と【医療オンライン資格確認】を伝える.
            out.push(Cow::Owned(format!(
                "PC本体に記載のシリアル番号{}",
                serial_suffix(f.serial)
            )));
            out.push(Cow::Borrowed(ONSHI_PHRASE));
            out.push(Cow::Borrowed(LENOVO_MAIL));
        }
        Part::Router => {
            if let Some(model) = f.model {
                // guide 1-8-3: シリアル番号は、本体に記載の S/NA / SER. から始まる番号.
                out.push(Cow::Owned(format!(
                    "ルータ（{}）本体に記載のシリアル番号（「{}」から始まる番号）{}",
                    model.name(),
                    router_prefix(model),
                    serial_suffix(f.serial)
                )));
            }
        }
        Part::Hub => out.push(Cow::Borrowed(
            "製品名 ApresiaLightGC105-SS と申請フォームで求められる製品の情報",
        )),
        Part::CardReader => {
            let maker = f.query.reader_maker.map_or("", |m| m.name_ja());
            out.push(Cow::Owned(format!(
                "顔認証付きカードリーダーのメーカー（{maker}）と画面に表示されているエラー{}",
                serial_suffix(f.serial)
            )));
        }
        Part::Line => out.push(Cow::Borrowed(
            "フレッツ光の契約者名と設置場所の住所、回線終端装置（ONU）のランプの状態",
        )),
        Part::ReceiptSystem => out.push(Cow::Borrowed(
            "レセコン等の製品名と連携方式（共有フォルダ face / req / res または WebAPI）",
        )),
        Part::HowTo => out.push(Cow::Borrowed("操作している画面と表示されたメッセージ")),
        Part::ChangeRequest => out.push(Cow::Borrowed("変更・増設・移転・承継の内容と希望時期")),
        Part::BillingNetwork | Part::BillingSystem | Part::BillingTokutei | Part::BillingOther => {
            out.push(Cow::Borrowed(
                "医療機関等コードと、画面に表示されたメッセージ",
            ))
        }
    }
    if f.serial.is_some() && !matches!(f.query.part, Part::Pc | Part::Router | Part::CardReader) {
        out.push(Cow::Owned(format!(
            "シリアル番号{}",
            serial_suffix(f.serial)
        )));
    }
    out
}

/// Warranty, charging and hours notes.
pub(super) fn notes(f: &Facts<'_>) -> Lines {
    let mut out: Lines = Vec::new();
    let part = f.query.part;
    let subscribed = f.query.maintenance == Maintenance::Omakase;
    if f.first == DeskId::Omakase {
        out.push(Cow::Borrowed(OMAKASE_SCOPE));
        out.push(Cow::Borrowed(OMAKASE_CHARGE));
        if f.omakase_contract.is_none_or(|c| c.hours.is_none()) {
            out.push(Cow::Borrowed(OMAKASE_UNKNOWN));
        }
    } else if subscribed && part == Part::ReceiptSystem {
        out.push(Cow::Borrowed(
            "レセコンは「Nにおまかせ」の対象外です。ご利用のレセプトコンピュータ会社等へ連絡してください",
        ));
    } else if !subscribed && part.is_standard_configuration() {
        out.push(Cow::Borrowed(UNSUBSCRIBED));
    }
    // The part desk's warranty notes (guide 1-8-3), also when omakase is called first.
    for &line in directory::desk(f.own).warranty {
        out.push(Cow::Borrowed(line));
    }
    match part {
        Part::Line => out.push(Cow::Borrowed(
            "フレッツ光 故障受付は24時間年中無休です。故障修理等の対応時間は 9:00〜17:00 です",
        )),
        Part::Pc => {
            out.push(Cow::Borrowed(
                "メールでの申告は受付時間外でも送信できます（受付対応は平日 9:00〜17:00）",
            ));
            out.push(Cow::Borrowed(ACCOUNT_CHARGE));
        }
        Part::Router | Part::Hub => out.push(Cow::Borrowed(NETWORK_CHANGE)),
        Part::CardReader | Part::ReceiptSystem | Part::HowTo => {
            out.push(Cow::Borrowed(ACCOUNT_CHARGE))
        }
        _ => {}
    }
    if part == Part::Hub {
        out.push(Cow::Borrowed(
            "Apresia の代品申請は web フォームのため常時受付として扱います。手配や発送はページの記載内容を確認してください",
        ));
    }
    if !f.own_contact_known {
        out.push(Cow::Borrowed(match f.own {
            DeskId::CardReaderMaker => "このカードリーダーメーカーの窓口（電話番号・受付時間）が未登録です。運用者の窓口一覧に登録してください",
            _ => "ご利用のレセプトコンピュータ会社等の窓口（電話番号・受付時間）が未登録です。施設情報に登録してください",
        }));
    }
    if f.first == DeskId::SskSystem && f.closed_reason == Some(ClosedReason::NoPublishedHours) {
        out.push(Cow::Borrowed(
            "支払基金 システムに関するお問い合わせ先は毎月1日〜4日の受付時間が公表されていないため、受付時間外として扱っています",
        ));
    }
    if matches!(
        f.own,
        DeskId::SskNetwork | DeskId::SskSystem | DeskId::SskTokutei | DeskId::SskOther
    ) {
        out.push(Cow::Borrowed(
            "支払基金の窓口の「休日」は土曜日、日曜日及び祝日です。年末年始（12/29〜1/3）は受付なし",
        ));
    }
    out
}

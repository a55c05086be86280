//! The desk table, transcribed from the guide (1-8 / 2-11 and 2-8-3).

use std::borrow::Cow;

use super::super::hours::{
    BandRule, Hours, MonthBand, MonthlyHours, Span, WeeklyHours, YearEndClosure,
};
use super::{Contact, ContactKind, Desk, DeskId};

const NO_SPANS: Cow<'static, [Span]> = Cow::Borrowed(&[]);

const fn weekdays(spans: &'static [Span], year_end: YearEndClosure) -> Hours {
    Hours::Weekly(WeeklyHours {
        weekday: Cow::Borrowed(spans),
        saturday: NO_SPANS,
        sunday: NO_SPANS,
        holiday: NO_SPANS,
        year_end: Some(year_end),
    })
}

const NINE_TO_FIVE: &[Span] = &[Span::hm(9, 0, 17, 0)];
const EIGHT_TO_NINE_PM: &[Span] = &[Span::hm(8, 0, 21, 0)];
// "8時～24時": until midnight, 24:00 itself closed.
const EIGHT_TO_MIDNIGHT: &[Span] = &[Span::hm(8, 0, 24, 0)];

// guide 2-8-3: ネットワーク回線 0120-220-571.
const SSK_NETWORK_BANDS: &[MonthBand] = &[
    MonthBand {
        first: 1,
        last: 4,
        rule: BandRule::HeijitsuOnly(NINE_TO_FIVE),
    },
    MonthBand {
        first: 5,
        last: 7,
        rule: BandRule::EveryDay(EIGHT_TO_NINE_PM),
    },
    MonthBand {
        first: 8,
        last: 10,
        rule: BandRule::EveryDay(EIGHT_TO_MIDNIGHT),
    },
    MonthBand {
        first: 11,
        last: 31,
        rule: BandRule::HeijitsuOnly(NINE_TO_FIVE),
    },
];

// guide 2-8-3: システム 0120-60-7210. Days 1–4 are not listed in the guide at all.
const SSK_SYSTEM_BANDS: &[MonthBand] = &[
    MonthBand {
        first: 1,
        last: 4,
        rule: BandRule::Unpublished,
    },
    MonthBand {
        first: 5,
        last: 7,
        rule: BandRule::EveryDay(EIGHT_TO_NINE_PM),
    },
    MonthBand {
        first: 8,
        last: 10,
        rule: BandRule::EveryDay(EIGHT_TO_MIDNIGHT),
    },
    MonthBand {
        first: 11,
        last: 12,
        rule: BandRule::EveryDay(EIGHT_TO_NINE_PM),
    },
    MonthBand {
        first: 13,
        last: 31,
        rule: BandRule::HeijitsuOnly(NINE_TO_FIVE),
    },
];

const WARRANTY_SITE_REPAIR: &str = "トラブル発生に伴うPC再設定作業等は別途費用が発生します";

pub(super) static DESKS: [Desk; 14] = [
    Desk {
        id: DeskId::Omakase,
        slug: "omakase",
        name: "Nにおまかせ！ITサポート",
        purpose: "保守加入施設の最初の連絡先: お電話での問診切り分けサポート、訪問における故障切り分け（当社標準の構成が対象）",
        contacts: &[Contact::fixed(
            ContactKind::Contract,
            "ご契約後に案内された専用ダイヤル（専用番号）",
        )],
        hours: Hours::Unpublished,
        hours_ja: "ご契約のプランによる（サポート内容・対象範囲・受付時間はプランごとに異なる）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[WARRANTY_SITE_REPAIR],
        site_specific: true,
    },
    Desk {
        id: DeskId::OnshiCallCenter,
        slug: "onshi-call-center",
        name: "オンライン資格確認等コールセンター",
        purpose: "オンライン資格確認等システムの申請、操作方法、システム全般",
        contacts: &[Contact::fixed(ContactKind::Phone, "0800-080-4583")],
        hours: Hours::Weekly(WeeklyHours {
            weekday: Cow::Borrowed(&[Span::hm(8, 0, 18, 0)]),
            saturday: Cow::Borrowed(&[Span::hm(8, 0, 16, 0)]),
            sunday: NO_SPANS,
            holiday: NO_SPANS,
            year_end: Some(YearEndClosure::Dec29ToJan3),
        }),
        hours_ja: "平日 8:00〜18:00、土曜 8:00〜16:00（日曜、祝日および年末年始（12/29〜1/3）除く）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
    Desk {
        id: DeskId::Flets113,
        slug: "flets-113",
        name: "フレッツ光 故障受付（113）",
        purpose: "フレッツ光回線（光回線・回線終端装置）の故障",
        contacts: &[
            Contact::fixed(ContactKind::Phone, "0120-000-113"),
            Contact::fixed(ContactKind::Phone, "113"),
        ],
        hours: Hours::AlwaysOpen,
        hours_ja: "24時間年中無休（故障修理等対応時間 9:00〜17:00）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
    Desk {
        id: DeskId::LenovoPc,
        slug: "lenovo-pc",
        name: "レノボPC 故障受付（日本コムシス）",
        purpose: "オンライン資格確認用PC（Lenovo）の故障",
        contacts: &[
            Contact::fixed(ContactKind::Phone, "050-3823-0119"),
            Contact::fixed(ContactKind::Mail, "request@nmc.comsys.co.jp"),
            Contact::fixed(
                ContactKind::MailSubject,
                "【I026_01】医療オンライン資格確認 機器故障連絡・問合せ",
            ),
        ],
        hours: weekdays(NINE_TO_FIVE, YearEndClosure::Dec29ToJan3),
        hours_ja: "平日 9:00〜17:00（土日および休日、年末年始（12/29〜1/3）除く）",
        serial_prefix: None,
        serial_location: Some("PC本体に記載"),
        warranty: &[
            "メーカーによる機器保証（受付・代替機交換は日本コムシス株式会社）: お買い上げから5年間、先出しセンドバックによる代替機交換",
            "故障交換等に伴いPC再設定が必要となる場合は、別途有償です",
        ],
        site_specific: false,
    },
    Desk {
        id: DeskId::AlliedRouter,
        slug: "allied-router",
        name: "アライドテレシス ルータ 故障受付（AT-AR1050V）",
        purpose: "オン資用ルータ AT-AR1050V の故障",
        contacts: &[Contact::fixed(ContactKind::Phone, "045-330-4846")],
        hours: weekdays(&[Span::hm(9, 0, 17, 30)], YearEndClosure::Dec29ToJan3),
        hours_ja: "平日 9:00〜17:30（土日および休日、年末年始（12/29〜1/3）除く）",
        serial_prefix: Some("S/NA"),
        serial_location: Some("ルータ本体に記載"),
        warranty: &["お買い上げから5年間、オンサイトによる代替機交換"],
        site_specific: false,
    },
    Desk {
        id: DeskId::YamahaRouter,
        slug: "yamaha-router",
        name: "YAMAHA ルータ 故障受付（NVR700・RTX830、SCSK）",
        purpose: "オン資用ルータ NVR700 / RTX830 の故障",
        contacts: &[Contact::fixed(ContactKind::Phone, "0120-523-453")],
        hours: weekdays(NINE_TO_FIVE, YearEndClosure::Dec29ToJan4),
        hours_ja: "平日 9:00〜17:00（土日および休日、年末年始（12/29〜1/4）除く）",
        serial_prefix: Some("SER."),
        serial_location: Some("ルータ本体に記載"),
        warranty: &["SCSK株式会社による機器保守: お買い上げから5年間、オンサイトによる代替機交換"],
        site_specific: false,
    },
    Desk {
        id: DeskId::ApresiaHub,
        slug: "apresia-hub",
        name: "アプレシア 代品申請（ApresiaLightGC105-SS）",
        purpose: "HUB（Apresia のみ）の修理・代品",
        contacts: &[
            Contact::fixed(
                ContactKind::Web,
                "https://www.apresia.jp/products/apresialight/support/contact/index.php",
            ),
            Contact::fixed(
                ContactKind::WebForm,
                "ページ中程「2.代品提供サービス」→ 製品選択「スモールビジネス向けスイッチ」→ 依頼内容「RMA/DOA対応(修理・代品受付)」→ 申請フォーム",
            ),
        ],
        // A web form takes requests at any time; handling follows Apresia's own schedule.
        hours: Hours::AlwaysOpen,
        hours_ja: "web申請フォーム（いつでも申請可。手配・発送はページの記載内容による）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
    Desk {
        id: DeskId::CardReaderMaker,
        slug: "card-reader-maker",
        name: "顔認証付きカードリーダー メーカー窓口",
        purpose: "顔認証付きカードリーダー（設置している場合のみ）",
        contacts: &[],
        hours: Hours::Unpublished,
        hours_ja: "メーカーによる（運用者が登録した窓口情報を参照）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: true,
    },
    Desk {
        id: DeskId::ReceiptVendor,
        slug: "receipt-vendor",
        name: "レセコン等企業（ご利用のレセプトコンピュータ会社等）",
        purpose: "レセプトコンピュータ・電子カルテ等と、その連携",
        contacts: &[],
        hours: Hours::Unpublished,
        hours_ja: "各社による（施設ごとに登録した窓口情報を参照）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: true,
    },
    Desk {
        id: DeskId::NttEastOnshi,
        slug: "ntt-east-onshi",
        name: "NTT東日本 オンライン資格確認等システム窓口",
        purpose: "設定変更、機器増設、移転、承継等の申し込み・ご相談",
        contacts: &[Contact::fixed(ContactKind::Phone, "0120-087-033")],
        hours: weekdays(NINE_TO_FIVE, YearEndClosure::Dec29ToJan4),
        hours_ja: "平日 9:00〜17:00（土日および休日、年末年始（12/29〜1/4）除く）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
    Desk {
        id: DeskId::SskNetwork,
        slug: "ssk-network",
        name: "社会保険診療報酬支払基金 オンライン請求 ネットワーク回線に関するお問い合わせ",
        purpose: "オンライン請求のネットワーク回線",
        contacts: &[Contact::fixed(ContactKind::Phone, "0120-220-571")],
        hours: Hours::Monthly(MonthlyHours {
            bands: SSK_NETWORK_BANDS,
            year_end: YearEndClosure::Dec29ToJan3,
        }),
        hours_ja: "1日〜4日、11日〜月末: 9時〜17時 休日を除く／5日〜7日: 8時〜21時 休日を含む／8日〜10日: 8時〜24時 休日を含む（年末年始 12/29〜1/3 を除く）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
    Desk {
        id: DeskId::SskSystem,
        slug: "ssk-system",
        name: "社会保険診療報酬支払基金 オンライン請求 システムに関するお問い合わせ",
        purpose: "オンライン請求システム",
        contacts: &[Contact::fixed(ContactKind::Phone, "0120-60-7210")],
        hours: Hours::Monthly(MonthlyHours {
            bands: SSK_SYSTEM_BANDS,
            year_end: YearEndClosure::Dec29ToJan3,
        }),
        hours_ja: "5日〜7日、11日、12日: 8時〜21時 休日を含む／8日〜10日: 8時〜24時 休日を含む／13日〜月末: 9時〜17時 休日を除く／1日〜4日: 受付時間の公表なし（年末年始 12/29〜1/3 を除く）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
    Desk {
        id: DeskId::SskTokutei,
        slug: "ssk-tokutei",
        name: "社会保険診療報酬支払基金 特定健診・保健指導システムに関するお問い合わせ",
        purpose: "特定健診・保健指導システム",
        contacts: &[Contact::fixed(ContactKind::Phone, "0120-109-957")],
        hours: weekdays(NINE_TO_FIVE, YearEndClosure::Dec29ToJan3),
        hours_ja: "土曜日、日曜日及び祝日を除く 9時〜17時（年末年始 12/29〜1/3 を除く）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
    Desk {
        id: DeskId::SskOther,
        slug: "ssk-other",
        name: "社会保険診療報酬支払基金 その他オンライン請求に関するお問い合わせ",
        purpose: "その他オンライン請求に関すること",
        contacts: &[
            Contact::fixed(ContactKind::Phone, "03-3591-7116"),
            Contact::fixed(ContactKind::Phone, "03-3591-7117"),
        ],
        hours: weekdays(
            &[Span::hm(9, 0, 12, 0), Span::hm(13, 0, 17, 0)],
            YearEndClosure::Dec29ToJan3,
        ),
        hours_ja: "土曜日、日曜日及び祝日を除く 9時〜12時、13時〜17時（年末年始 12/29〜1/3 を除く）",
        serial_prefix: None,
        serial_location: None,
        warranty: &[],
        site_specific: false,
    },
];

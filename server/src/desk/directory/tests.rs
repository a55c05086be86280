use super::*;

#[test]
fn table_is_indexed_by_id_and_ids_are_the_domain_kebab_ids() {
    let expected = [
        "omakase",
        "onshi-call-center",
        "flets-113",
        "lenovo-pc",
        "allied-router",
        "yamaha-router",
        "apresia-hub",
        "card-reader-maker",
        "receipt-vendor",
        "ntt-east-onshi",
        "ssk-network",
        "ssk-system",
        "ssk-tokutei",
        "ssk-other",
    ];
    for (id, slug) in DeskId::ALL.iter().zip(expected) {
        assert_eq!(desk(*id).id, *id);
        assert_eq!(id.as_str(), slug);
        assert_eq!(serde_json::to_value(id).unwrap(), slug);
        let parsed: DeskId = serde_json::from_value(slug.into()).unwrap();
        assert_eq!(parsed, *id);
        let from_cli = <DeskId as clap::ValueEnum>::from_str(slug, false).unwrap();
        assert_eq!(from_cli, *id);
    }
}

#[test]
fn phone_numbers_are_the_guides() {
    let phone = |id| {
        desk(id)
            .contacts
            .iter()
            .filter(|c| c.kind == ContactKind::Phone)
            .map(|c| c.value.as_ref())
            .collect::<Vec<_>>()
    };
    assert_eq!(phone(DeskId::OnshiCallCenter), ["0800-080-4583"]);
    assert_eq!(phone(DeskId::Flets113), ["0120-000-113", "113"]);
    assert_eq!(phone(DeskId::LenovoPc), ["050-3823-0119"]);
    assert_eq!(phone(DeskId::AlliedRouter), ["045-330-4846"]);
    assert_eq!(phone(DeskId::YamahaRouter), ["0120-523-453"]);
    assert_eq!(phone(DeskId::NttEastOnshi), ["0120-087-033"]);
    assert_eq!(phone(DeskId::SskNetwork), ["0120-220-571"]);
    assert_eq!(phone(DeskId::SskSystem), ["0120-60-7210"]);
    assert_eq!(phone(DeskId::SskTokutei), ["0120-109-957"]);
    assert_eq!(phone(DeskId::SskOther), ["03-3591-7116", "03-3591-7117"]);
    assert!(phone(DeskId::Omakase).is_empty());
}

#[test]
fn serial_prefixes_and_warranty() {
    assert_eq!(desk(DeskId::AlliedRouter).serial_prefix, Some("S/NA"));
    assert_eq!(desk(DeskId::YamahaRouter).serial_prefix, Some("SER."));
    assert!(desk(DeskId::LenovoPc).warranty[0].contains("5年間、先出しセンドバック"));
    assert!(desk(DeskId::AlliedRouter).warranty[0].contains("5年間、オンサイト"));
    let lenovo = desk(DeskId::LenovoPc).contacts;
    assert!(
        lenovo
            .iter()
            .any(|c| c.kind == ContactKind::MailSubject && c.value.contains("【I026_01】"))
    );
}

//! The face-auth card reader (顔認証付きカードリーダー): which maker, whether
//! it is present and powered, whether its software runs. Inputs: the PnP
//! device list (`Get-PnpDevice`), the process list (`tasklist`) and the
//! services (`Get-Service`). The matching table is configuration; the
//! defaults below are a starting point to be confirmed with
//! `onshi-agent probe` on a reference PC of each maker (it lists candidate
//! devices that matched no rule).

use serde::{Deserialize, Serialize};

use super::ps;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Maker {
    Fujitsu,
    Panasonic,
    Atlus,
    Almex,
    Canon,
    /// The site has no reader.
    None,
}

impl Maker {
    /// Guide 1-1-2: ALMEX (rear lower-left switch) and Canon (button at the
    /// rear centre of the display) are switched by hand; the others follow
    /// the PC.
    pub fn manual_power(self) -> bool {
        matches!(self, Maker::Almex | Maker::Canon)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Power {
    On,
    Off,
    /// No such device at all (never connected, driver removed).
    Absent,
    /// The site has no reader.
    None,
}

/// How to recognise one maker's reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakerRule {
    pub maker: Maker,
    /// Defaults to the guide's rule for the maker.
    #[serde(default)]
    pub manual_power: Option<bool>,
    /// Substrings of the device's FriendlyName (case-insensitive).
    #[serde(default)]
    pub device_names: Vec<String>,
    /// Substrings of the InstanceId, e.g. "VID_04C5&PID_".
    #[serde(default)]
    pub device_ids: Vec<String>,
    /// Image names of the reader software's processes.
    #[serde(default)]
    pub processes: Vec<String>,
    /// Names of the reader software's services.
    #[serde(default)]
    pub services: Vec<String>,
}

/// PnP classes a reader can appear under; printers of the same maker
/// (Canon, Panasonic) are not readers.
const READER_CLASSES: [&str; 8] = [
    "SmartCardReader",
    "Camera",
    "Image",
    "USB",
    "HIDClass",
    "Biometric",
    "Net",
    "Ports",
];

pub fn default_rules() -> Vec<MakerRule> {
    let rule =
        |maker, names: &[&str], ids: &[&str], processes: &[&str], services: &[&str]| MakerRule {
            maker,
            manual_power: None,
            device_names: names.iter().map(|s| (*s).to_owned()).collect(),
            device_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            processes: processes.iter().map(|s| (*s).to_owned()).collect(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
        };
    vec![
        rule(
            Maker::Fujitsu,
            &["Caora", "FUJITSU Face"],
            &["VID_04C5&"],
            &["CaoraManager.exe"],
            &["CaoraService"],
        ),
        rule(
            Maker::Panasonic,
            &["Panasonic Face", "XC-STFR"],
            &["VID_04DA&"],
            &["FaceAuthReader.exe", "ClearScreen.exe"],
            &["PanasonicFaceAuthService"],
        ),
        rule(
            Maker::Atlus,
            &["ATLUS", "アトラス", "MATSUMURA"],
            &[],
            &["AtlusFaceManager.exe"],
            &["AtlusFaceService"],
        ),
        rule(
            Maker::Almex,
            &["ALMEX", "アルメックス"],
            &[],
            &["AlmexFaceAuth.exe"],
            &["AlmexFaceAuthService"],
        ),
        rule(
            Maker::Canon,
            &["Canon Face", "キヤノン 顔認証"],
            &[],
            &["CanonFaceAuth.exe"],
            &["CanonFaceAuthService"],
        ),
    ]
}

#[derive(Debug, Clone, PartialEq)]
pub struct PnpDevice {
    pub class: String,
    pub name: String,
    pub instance_id: String,
    pub status: String,
    pub present: bool,
}

/// `Get-PnpDevice | Select-Object Class,FriendlyName,InstanceId,Manufacturer,Status,Present | ConvertTo-Json`
pub fn parse_pnp(text: &str) -> Result<Vec<PnpDevice>, String> {
    Ok(ps::items(text)?
        .iter()
        .map(|v| {
            let status = ps::text(v, "Status");
            PnpDevice {
                class: ps::text(v, "Class"),
                name: ps::text(v, "FriendlyName"),
                instance_id: ps::text(v, "InstanceId"),
                // Older builds have no Present; a remembered, unplugged device
                // then shows as status Unknown.
                present: ps::boolean(v, "Present")
                    .unwrap_or(!status.eq_ignore_ascii_case("Unknown")),
                status,
            }
        })
        .collect())
}

/// `tasklist /fo csv /nh`: image names, lower case. The other columns are
/// localised (memory "12,345 K") and not needed.
pub fn parse_tasklist(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split_once('"'))
        .map(|(image, _)| image.to_lowercase())
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub display_name: String,
    pub running: bool,
}

/// `Get-Service | Select-Object Name,DisplayName,Status,StartType | ConvertTo-Json`
pub fn parse_services(text: &str) -> Result<Vec<Service>, String> {
    const STATUS: [(i64, &str); 7] = [
        (1, "Stopped"),
        (2, "StartPending"),
        (3, "StopPending"),
        (4, "Running"),
        (5, "ContinuePending"),
        (6, "PausePending"),
        (7, "Paused"),
    ];
    Ok(ps::items(text)?
        .iter()
        .map(|v| Service {
            name: ps::text(v, "Name"),
            display_name: ps::text(v, "DisplayName"),
            running: ps::enumeration(v, "Status", &STATUS) == "Running",
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReaderInfo {
    pub maker: Maker,
    pub power: Power,
    pub manual_power: bool,
    /// A process or a running service of the reader software.
    pub software_running: bool,
    pub device_name: String,
    /// PnP status of the device: OK, Error, Degraded, Unknown.
    pub device_status: String,
    /// Panasonic's ClearScreen (C:\FaceAuthReader\ClearScreen) is there.
    pub clear_screen_installed: bool,
    /// Devices that look like a reader but match no rule (to tune the table).
    pub unmatched_candidates: Vec<String>,
}

pub struct Observed<'a> {
    pub devices: &'a [PnpDevice],
    pub processes: Option<&'a [String]>,
    pub services: Option<&'a [Service]>,
    pub clear_screen_installed: bool,
}

fn contains(hay: &str, needle: &str) -> bool {
    !needle.is_empty() && hay.to_lowercase().contains(&needle.to_lowercase())
}

fn device_matches(rule: &MakerRule, d: &PnpDevice) -> bool {
    READER_CLASSES
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&d.class))
        && (rule.device_names.iter().any(|n| contains(&d.name, n))
            || rule.device_ids.iter().any(|n| contains(&d.instance_id, n)))
}

/// Decides maker and power. `configured` (config) beats detection;
/// `baseline` remembers the maker seen before, so a reader that vanished
/// entirely is reported absent instead of "no reader".
pub fn evaluate(
    rules: &[MakerRule],
    configured: Option<Maker>,
    baseline: Option<Maker>,
    o: &Observed,
) -> ReaderInfo {
    let processes = o.processes.unwrap_or_default();
    let services = o.services.unwrap_or_default();
    let software = |r: &MakerRule| {
        let process = r
            .processes
            .iter()
            .any(|p| processes.contains(&p.to_lowercase()));
        let service_running = r.services.iter().any(|s| {
            services
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(s) && x.running)
        });
        let service_installed = r
            .services
            .iter()
            .any(|s| services.iter().any(|x| x.name.eq_ignore_ascii_case(s)));
        (process || service_running, service_installed || process)
    };
    let detected = rules
        .iter()
        .find(|r| o.devices.iter().any(|d| device_matches(r, d)))
        .or_else(|| rules.iter().find(|r| software(r).1))
        .map(|r| r.maker);
    let maker = configured.or(detected).or(baseline).unwrap_or(Maker::None);

    let rule = rules.iter().find(|r| r.maker == maker);
    let matched: Vec<&PnpDevice> = rule
        .map(|r| o.devices.iter().filter(|d| device_matches(r, d)).collect())
        .unwrap_or_default();
    // Prefer a present device; among those, one that works.
    let best = matched
        .iter()
        .max_by_key(|d| (d.present, d.status.eq_ignore_ascii_case("OK")))
        .copied();
    let power = match (maker, best) {
        (Maker::None, _) => Power::None,
        (_, Some(d)) if d.present => Power::On,
        (_, Some(_)) => Power::Off,
        (_, None) => Power::Absent,
    };
    let unmatched_candidates = o
        .devices
        .iter()
        .filter(|d| d.present && !matched.contains(d))
        .filter(|d| {
            d.class.eq_ignore_ascii_case("SmartCardReader")
                || ["顔認証", "face", "カードリーダー"]
                    .iter()
                    .any(|k| contains(&d.name, k))
        })
        .map(|d| format!("{} [{}] {}", d.name, d.class, d.instance_id))
        .collect();
    ReaderInfo {
        maker,
        power,
        manual_power: rule
            .and_then(|r| r.manual_power)
            .unwrap_or(maker.manual_power()),
        software_running: rule.is_some_and(|r| software(r).0),
        device_name: best.map(|d| d.name.clone()).unwrap_or_default(),
        device_status: best.map(|d| d.status.clone()).unwrap_or_default(),
        clear_screen_installed: o.clear_screen_installed,
        unmatched_candidates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(class: &str, name: &str, id: &str, status: &str, present: bool) -> PnpDevice {
        PnpDevice {
            class: class.into(),
            name: name.into(),
            instance_id: id.into(),
            status: status.into(),
            present,
        }
    }

    fn eval(
        devices: &[PnpDevice],
        processes: &[&str],
        configured: Option<Maker>,
        baseline: Option<Maker>,
    ) -> ReaderInfo {
        let processes: Vec<String> = processes.iter().map(|p| p.to_lowercase()).collect();
        evaluate(
            &default_rules(),
            configured,
            baseline,
            &Observed {
                devices,
                processes: Some(&processes),
                services: None,
                clear_screen_installed: false,
            },
        )
    }

    #[test]
    fn present_device_is_on_and_remembered_unplugged_device_is_off() {
        let on = [dev(
            "USB",
            "Caora face authentication reader",
            r"USB\VID_04C5&PID_125A\0001",
            "OK",
            true,
        )];
        let r = eval(&on, &["CaoraManager.exe"], None, None);
        assert_eq!(
            (r.maker, r.power, r.manual_power, r.software_running),
            (Maker::Fujitsu, Power::On, false, true)
        );
        let off = [dev(
            "USB",
            "ALMEX 顔認証付きカードリーダー",
            r"USB\VID_2A5B&PID_0101\A1",
            "Unknown",
            false,
        )];
        let r = eval(&off, &[], None, None);
        assert_eq!(
            (r.maker, r.power, r.manual_power),
            (Maker::Almex, Power::Off, true)
        );
    }

    #[test]
    fn vanished_reader_is_absent_not_none() {
        let r = eval(&[], &[], None, Some(Maker::Canon));
        assert_eq!(
            (r.maker, r.power, r.manual_power),
            (Maker::Canon, Power::Absent, true)
        );
        let r = eval(&[], &[], None, None);
        assert_eq!((r.maker, r.power), (Maker::None, Power::None));
        let r = eval(&[], &[], Some(Maker::None), Some(Maker::Canon));
        assert_eq!(r.power, Power::None, "configured 'none' wins");
    }

    #[test]
    fn printers_of_the_same_maker_are_not_readers() {
        let printer = [dev(
            "Printer",
            "Canon Face TS8330 series",
            r"USBPRINT\CANON",
            "OK",
            true,
        )];
        let r = eval(&printer, &[], None, None);
        assert_eq!(r.maker, Maker::None);
    }

    #[test]
    fn unknown_reader_like_devices_are_listed_for_tuning() {
        let d = [dev(
            "SmartCardReader",
            "Microsoft Usbccid Smartcard Reader (WUDF)",
            r"USB\VID_1234&PID_5678\X",
            "OK",
            true,
        )];
        let r = eval(&d, &[], None, None);
        assert_eq!(r.unmatched_candidates.len(), 1);
    }

    #[test]
    fn tasklist_csv_in_english_and_japanese() {
        let text = "\"System Idle Process\",\"0\",\"Services\",\"0\",\"8 K\"\r\n\"CaoraManager.exe\",\"4312\",\"Console\",\"1\",\"24,120 K\"\r\n";
        assert_eq!(
            parse_tasklist(text),
            ["system idle process", "caoramanager.exe"]
        );
        assert!(
            parse_tasklist("情報: 指定された条件に一致するタスクは実行されていません。").is_empty()
        );
    }
}

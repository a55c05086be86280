//! Serial-number checks: a router serial must start with its maker's prefix (guide 1-8-3:
//! 「シリアル番号は、本体に記載の S/NA から始まる番号です」 / 「本体に記載の SER. から始まる番号」).

use super::query::RouterModel;

/// Longest serial we accept; real ones are far shorter.
const MAX_LEN: usize = 64;

/// Why a serial was rejected. Messages are Japanese, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    #[error("シリアル番号が空です。")]
    Empty,
    #[error("シリアル番号が長すぎます（{MAX_LEN}文字まで）。")]
    TooLong,
    #[error("シリアル番号に使えない文字（空白や制御文字）が含まれています。")]
    BadCharacters,
    #[error(
        "シリアル番号「{serial}」は {model} の形式ではありません。{model} のシリアル番号はルータ本体に記載の「{prefix}」から始まる番号です。{hint}"
    )]
    WrongPrefix {
        serial: String,
        model: &'static str,
        prefix: &'static str,
        hint: &'static str,
    },
}

/// The serial prefix of a router model's maker.
pub fn router_prefix(model: RouterModel) -> &'static str {
    match model {
        RouterModel::AtAr1050v => "S/NA",
        RouterModel::Nvr700 | RouterModel::Rtx830 => "SER.",
    }
}

/// Checks a router serial against the model's prefix and returns it trimmed. The prefix is
/// compared without regard to ASCII case ("s/na…" is accepted) and must be followed by the
/// number itself.
pub fn check_router_serial(model: RouterModel, serial: &str) -> Result<String, SerialError> {
    let serial = check_plain(serial)?;
    let prefix = router_prefix(model);
    let has_prefix = serial.len() > prefix.len()
        && serial.is_char_boundary(prefix.len())
        && serial[..prefix.len()].eq_ignore_ascii_case(prefix);
    if has_prefix {
        return Ok(serial);
    }
    // A serial of the other maker usually means the wrong model was chosen.
    let other = match model {
        RouterModel::AtAr1050v => "SER.",
        RouterModel::Nvr700 | RouterModel::Rtx830 => "S/NA",
    };
    let looks_other = serial.len() >= other.len()
        && serial.is_char_boundary(other.len())
        && serial[..other.len()].eq_ignore_ascii_case(other);
    let hint = match (looks_other, model) {
        (true, RouterModel::AtAr1050v) => {
            "「SER.」で始まる番号は YAMAHA（NVR700/RTX830）のものです。ルータの型番を確認してください。"
        }
        (true, _) => {
            "「S/NA」で始まる番号はアライドテレシス（AT-AR1050V）のものです。ルータの型番を確認してください。"
        }
        (false, _) => "",
    };
    Err(SerialError::WrongPrefix {
        serial,
        model: model.name(),
        prefix,
        hint,
    })
}

/// Checks a serial with no known prefix (PC, reader): non-empty, printable, not too long.
pub fn check_plain(serial: &str) -> Result<String, SerialError> {
    let serial = serial.trim();
    if serial.is_empty() {
        return Err(SerialError::Empty);
    }
    if serial.chars().count() > MAX_LEN {
        return Err(SerialError::TooLong);
    }
    if serial.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(SerialError::BadCharacters);
    }
    Ok(serial.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allied_serials_start_with_s_na() {
        assert_eq!(
            check_router_serial(RouterModel::AtAr1050v, " S/NA12345678 ").unwrap(),
            "S/NA12345678"
        );
        assert!(check_router_serial(RouterModel::AtAr1050v, "s/na1234").is_ok());
        let err = check_router_serial(RouterModel::AtAr1050v, "A1234").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("本体に記載"), "{msg}");
        assert!(msg.contains("「S/NA」"), "{msg}");
        assert!(msg.contains("A1234"), "{msg}");
    }

    #[test]
    fn yamaha_serials_start_with_ser_dot() {
        for model in [RouterModel::Nvr700, RouterModel::Rtx830] {
            assert!(check_router_serial(model, "SER.S4L123456").is_ok());
            // "SER" without the dot is not the printed prefix.
            let err = check_router_serial(model, "SERS4L123456").unwrap_err();
            assert!(err.to_string().contains("「SER.」から始まる番号"));
        }
    }

    #[test]
    fn prefix_alone_is_not_a_serial() {
        assert!(check_router_serial(RouterModel::AtAr1050v, "S/NA").is_err());
        assert!(check_router_serial(RouterModel::Rtx830, "SER.").is_err());
    }

    #[test]
    fn other_makers_serial_hints_at_the_model() {
        let err = check_router_serial(RouterModel::AtAr1050v, "SER.123").unwrap_err();
        assert!(err.to_string().contains("YAMAHA"));
        let err = check_router_serial(RouterModel::Nvr700, "S/NA123").unwrap_err();
        assert!(err.to_string().contains("アライドテレシス"));
    }

    #[test]
    fn plain_serials_reject_empty_spaces_and_long_input() {
        assert_eq!(check_plain("  "), Err(SerialError::Empty));
        assert_eq!(check_plain("PF3 ABC"), Err(SerialError::BadCharacters));
        assert_eq!(check_plain(&"X".repeat(65)), Err(SerialError::TooLong));
        assert_eq!(check_plain("PF3ABCDE").unwrap(), "PF3ABCDE");
        // Multi-byte input must not panic on the prefix slice.
        assert!(check_router_serial(RouterModel::AtAr1050v, "シリアル1").is_err());
    }
}

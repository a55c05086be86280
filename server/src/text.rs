//! Checks for free text that people type (site names, addresses, comments): no control
//! characters and no bidirectional overrides, which can make a name display as something else
//! (e.g. U+202E turns "abc.exe" around). Pure.

/// Characters that reorder text when displayed (Unicode bidi embeddings, overrides, isolates)
/// and invisible marks that have no business in a name.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// Why a text was refused, in Japanese, naming the field.
pub fn check_line(label_ja: &str, value: &str, max_chars: usize) -> Result<(), String> {
    check(label_ja, value, max_chars, false)
}

/// Like [`check_line`] but line breaks and tabs are allowed (comments, notes).
pub fn check_multiline(label_ja: &str, value: &str, max_chars: usize) -> Result<(), String> {
    check(label_ja, value, max_chars, true)
}

fn check(label_ja: &str, value: &str, max_chars: usize, multiline: bool) -> Result<(), String> {
    let count = value.chars().count();
    if count > max_chars {
        return Err(format!(
            "{label_ja}は{max_chars}文字以内で入力してください（{count}文字あります）"
        ));
    }
    let allowed_control = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err(format!(
            "{label_ja}に制御文字（改行・NUL など）は使えません"
        ));
    }
    if value.chars().any(is_bidi_control) {
        return Err(format!(
            "{label_ja}に文字の表示順を変える制御文字（U+202E など）は使えません"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_control_and_bidi_characters() {
        assert!(check_line("名称", "山田医院", 10).is_ok());
        assert!(
            check_line("名称", "a\u{0}b", 10)
                .unwrap_err()
                .contains("制御文字")
        );
        assert!(check_line("名称", "a\nb", 10).is_err());
        assert!(check_multiline("コメント", "a\nb\tc", 10).is_ok());
        assert!(check_multiline("コメント", "a\u{0}b", 10).is_err());
        assert!(
            check_line("名称", "abc\u{202E}exe", 20)
                .unwrap_err()
                .contains("U+202E")
        );
        assert!(check_line("名称", "\u{2066}x", 20).is_err());
        let long = "あ".repeat(11);
        assert!(
            check_line("名称", &long, 10)
                .unwrap_err()
                .contains("10文字以内")
        );
    }
}

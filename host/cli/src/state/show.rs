//! How values look: text when they are printable UTF-8, hex otherwise.

use base64::Engine;

/// `value` as text if it is UTF-8 without control characters (other than
/// tab and newline), else `hex:` and its hex digits.
pub(crate) fn show(value: &[u8]) -> String {
    match text(value) {
        Some(t) => t.to_string(),
        None => format!("hex:{}", hex(value)),
    }
}

/// The value as text, if it is printable UTF-8.
pub(crate) fn text(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value)
        .ok()
        .filter(|t| !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'))
}

/// Lowercase hex.
pub(crate) fn hex(value: &[u8]) -> String {
    value.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value as JSON fields: `value` (text or null) and `value_b64` (always).
pub(crate) fn json_value(value: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "value": text(value),
        "value_b64": base64::engine::general_purpose::STANDARD.encode(value),
    })
}

/// Merges the fields of `extra` (an object) into `base` (an object).
pub(crate) fn merged(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_shown_as_text_and_bytes_as_hex() {
        assert_eq!(show(b"hello\nworld"), "hello\nworld");
        assert_eq!(show(&[0, 255, 16]), "hex:00ff10");
        assert_eq!(show(b"a\x07"), "hex:6107");
        assert_eq!(json_value(&[0xff])["value"], serde_json::Value::Null);
        assert_eq!(json_value(b"ok")["value_b64"], "b2s=");
    }
}

//! How keys, store ids and values look in text output.
//!
//! Keys, store ids and lock records come from the store, which anyone
//! with write access fills: printed raw, an ESC or OSC sequence would reach
//! the operator's terminal, and a newline would make one key read as two.
//! So text output escapes what a terminal would act on or hide, the way
//! Rust's `{:?}` writes it (which is also how messages quote keys):
//!
//! - a backslash as `\\`, newline, carriage return and tab as `\n`, `\r`, `\t`;
//! - every other control character (C0, DEL, C1) as `\u{1b}`, `\u{7f}`, `\u{9b}`, …;
//! - the invisible formatting characters: bidirectional overrides and
//!   isolates (which make text display in another order, as in "Trojan
//!   Source"), zero-width characters and the byte order mark (which make
//!   two different keys look the same), line and paragraph separators
//!   (which some terminals break lines at) and tag characters, as `\u{202e}`, ….
//!
//! `--json` and `--raw` output stays exact.

use std::{borrow::Cow, fmt::Write};

use base64::Engine;

/// Whether `c` is invisible formatting: a bidi control, a zero-width
/// character, a line or paragraph separator, a soft hyphen, a tag character.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// Whether text output shows `c` escaped.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// `text` with every character a terminal would act on or hide escaped,
/// and backslashes doubled, so that it reads back unambiguously; see the
/// [module documentation](self). Borrowed when nothing needed escaping.
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// `message` with control and invisible formatting characters escaped,
/// backslashes left alone (a message quotes keys with `{:?}`, which has
/// escaped them already): the last guard before an error reaches the terminal.
pub(crate) fn defused(message: &str) -> Cow<'_, str> {
    escape(message, false)
}

fn escape(text: &str, backslash: bool) -> Cow<'_, str> {
    let special = |c: char| needs_escape(c) || (backslash && c == '\\');
    if !text.chars().any(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            _ if !special(c) => out.push(c),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Writing to a String cannot fail.
            _ => {
                let _ = write!(out, "{}", c.escape_unicode());
            }
        }
    }
    Cow::Owned(out)
}

/// `value` as text, exactly, if it is UTF-8 that shows as itself (no
/// control or invisible formatting characters other than tab and newline),
/// else `hex:` and its hex digits.
pub(crate) fn show(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(t) if !t.chars().any(|c| needs_escape(c) && c != '\n' && c != '\t') => t.to_string(),
        _ => format!("hex:{}", hex(value)),
    }
}

/// `value` on one line: as [`show`], with the text [`escaped`] (so a
/// newline shows as `\n`).
pub(crate) fn show_inline(value: &[u8]) -> String {
    let shown = show(value);
    match escaped(&shown) {
        Cow::Borrowed(_) => shown,
        Cow::Owned(escaped) => escaped,
    }
}

/// The value as text for JSON, if it is UTF-8 without control characters
/// other than tab and newline (JSON escapes those exactly).
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
        assert_eq!(
            show("a\u{202e}b".as_bytes()),
            "hex:61e280ae62",
            "a bidi override is not shown as text"
        );
        assert_eq!(show_inline(b"two\nlines\\"), "two\\nlines\\\\");
        assert_eq!(json_value(&[0xff])["value"], serde_json::Value::Null);
        assert_eq!(json_value(b"ok")["value_b64"], "b2s=");
        assert_eq!(json_value("a\u{202e}b".as_bytes())["value"], "a\u{202e}b");
    }

    #[test]
    fn control_and_invisible_characters_are_escaped_as_rust_writes_them() {
        assert_eq!(
            escaped("a\x1b]0;pwned\x07\nb\tc\rd\\e"),
            "a\\u{1b}]0;pwned\\u{7}\\nb\\tc\\rd\\\\e"
        );
        assert_eq!(
            escaped("\u{7f}\u{9b}\u{202e}\u{200b}\u{2028}\u{feff}\u{e0041}"),
            "\\u{7f}\\u{9b}\\u{202e}\\u{200b}\\u{2028}\\u{feff}\\u{e0041}"
        );
        assert!(matches!(escaped("plain ünïcödé नमस्ते"), Cow::Borrowed(_)));
        // The same escapes as `{:?}`, without its quotes.
        let key = "k\x1b\n\t\\\u{202e}";
        assert_eq!(format!("\"{}\"", escaped(key)), format!("{key:?}"));
        assert_eq!(
            defused("key \"a\\u{1b}\"\x1b[2J"),
            "key \"a\\u{1b}\"\\u{1b}[2J"
        );
    }
}

//! The TLS keys of a connection string (`sslmode`, `sslrootcert`), taken
//! out before the client reads the rest: the client knows neither
//! `verify-ca` and `verify-full` nor `sslrootcert`.
//!
//! Both of libpq's forms are read: a URL, whose query string holds
//! `key=value` pairs separated by `&` (values percent-encoded), and a
//! `key=value` string, whose pairs are separated by spaces (a value in
//! single quotes may hold spaces; `\` escapes the next character).
//! Nothing is echoed back in an error, so a password never shows.

/// The keys taken out of a connection string.
pub(crate) const TLS_KEYS: [&str; 2] = ["sslmode", "sslrootcert"];

/// A connection string without its TLS keys, and their values (the last
/// one of a key given twice, as libpq).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    /// The connection string without the TLS keys.
    pub(crate) rest: String,
    /// The value of `sslmode`, if given.
    pub(crate) sslmode: Option<String>,
    /// The value of `sslrootcert`, if given.
    pub(crate) sslrootcert: Option<String>,
}

impl Split {
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.sslmode = Some(value),
            "sslrootcert" => self.sslrootcert = Some(value),
            _ => return false,
        }
        true
    }
}

/// Splits `conninfo` (a URL or a `key=value` string).
pub(crate) fn split_tls_keys(conninfo: &str) -> Result<Split, String> {
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        split_url(conninfo)
    } else {
        split_pairs(conninfo)
    }
}

fn split_url(url: &str) -> Result<Split, String> {
    let mut split = Split::default();
    let Some((base, query)) = url.split_once('?') else {
        split.rest = url.to_string();
        return Ok(split);
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !TLS_KEYS.contains(&key) {
            kept.push(pair);
            continue;
        }
        let value = percent_decode(value).ok_or_else(|| {
            format!("the value of `{key}` in `url` is not valid percent-encoded UTF-8")
        })?;
        split.take(key, value);
    }
    split.rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(split)
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn split_pairs(conninfo: &str) -> Result<Split, String> {
    let mut split = Split::default();
    let mut kept: Vec<&str> = Vec::new();
    let mut chars = conninfo.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!(
                "`url` cannot be read: the key `{key}` has no `=` and value"
            ));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut closed = !quoted;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '\'' if quoted => {
                    closed = true;
                    break;
                }
                c if !quoted && c.is_whitespace() => break,
                c => value.push(c),
            }
        }
        if !closed {
            return Err(format!(
                "`url` cannot be read: the value of `{key}` has no closing quote"
            ));
        }
        let end = chars.peek().map_or(conninfo.len(), |&(i, _)| i);
        if !split.take(&key, value) {
            kept.push(conninfo[start..end].trim_end());
        }
    }
    split.rest = kept.join(" ");
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Split {
        split_tls_keys(s).unwrap()
    }

    #[test]
    fn a_url_keeps_every_other_query_key() {
        let s = split(
            "postgres://u:p%3Fw@db:5432/d?application_name=x&sslmode=verify-full&connect_timeout=3&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem",
        );
        assert_eq!(
            s.rest,
            "postgres://u:p%3Fw@db:5432/d?application_name=x&connect_timeout=3"
        );
        assert_eq!(s.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(s.sslrootcert.as_deref(), Some("/etc/ca dir/ca.pem"));
        let s = split("postgresql://u@db/d?sslmode=require");
        assert_eq!(s.rest, "postgresql://u@db/d");
        assert_eq!(s.sslmode.as_deref(), Some("require"));
        assert_eq!(split("postgres://u@db/d").rest, "postgres://u@db/d");
        assert_eq!(
            split("postgres://u@db/d?sslmode=disable&sslmode=verify-ca")
                .sslmode
                .as_deref(),
            Some("verify-ca"),
            "the last one wins, as libpq"
        );
    }

    #[test]
    fn a_bad_escape_is_refused_without_echoing_the_url() {
        let err = split_tls_keys("postgres://u:hunter2@db/d?sslrootcert=%zz").unwrap_err();
        assert!(err.contains("`sslrootcert`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_key_value_string_keeps_every_other_pair() {
        let s = split(
            r"host=db user=u  password='it\'s' sslmode = verify-ca dbname=d sslrootcert='/etc/my ca/ca.pem' port=5432",
        );
        assert_eq!(
            s.rest,
            r"host=db user=u password='it\'s' dbname=d port=5432"
        );
        assert_eq!(s.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(s.sslrootcert.as_deref(), Some("/etc/my ca/ca.pem"));
        let s = split(r"sslrootcert=/a\ b.pem host=db");
        assert_eq!(s.sslrootcert.as_deref(), Some("/a b.pem"));
        assert_eq!(s.rest, "host=db");
    }

    #[test]
    fn a_malformed_key_value_string_names_the_key_not_the_values() {
        let err = split_tls_keys("host=db password='hunter2").unwrap_err();
        assert!(err.contains("`password` has no closing quote"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = split_tls_keys("host=db sslmode").unwrap_err();
        assert!(err.contains("`sslmode` has no `=`"), "{err}");
    }
}

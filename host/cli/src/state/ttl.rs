//! `--ttl`: a time to live written as a duration, `30s`, `10m`, `1h30m`.

use std::time::Duration;

/// The units a time to live is written in, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses a time to live: one or more `<number><unit>` parts (units ms, s,
/// m, h, d), e.g. `90s`, `10m`, `1h30m`, `7d`. Zero and bad input are
/// refused with a message naming the fix.
pub(crate) fn parse_ttl(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a time to live: write a number and a unit, e.g. 30s, 10m, 1h30m, 7d \
             (units: ms, s, m, h, d)"
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let (_, ms) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?;
        rest = &rest[unit_len..];
        total = number
            .checked_mul(*ms)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| {
                format!("{text:?} is too long a time to live; give at most a few centuries")
            })?;
    }
    if total == 0 {
        return Err(format!(
            "{text:?} is a time to live of zero, which expires the key before anyone reads it; \
             give a positive duration, or delete the key"
        ));
    }
    Ok(Duration::from_millis(total))
}

/// A time to live as `--ttl` takes it, in its largest whole units
/// (`1h30m`, `45s`, `250ms`).
pub(crate) fn show_ttl(ttl: Duration) -> String {
    let mut ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut out = String::new();
    for (unit, size) in UNITS.iter().rev() {
        if ms >= *size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_every_unit_and_bad_input_names_the_fix() {
        assert_eq!(parse_ttl("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_ttl("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_ttl("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_ttl(" 45s "), Ok(Duration::from_secs(45)));
        for bad in ["", "10", "m", "10x", "1.5h", "-3s", "10 m"] {
            let err = parse_ttl(bad).unwrap_err();
            assert!(err.contains("e.g. 30s, 10m"), "{bad:?}: {err}");
        }
        assert!(parse_ttl("0s").unwrap_err().contains("zero"));
        for text in ["1h30m", "45s", "250ms", "7d", "1d1h1m1s1ms"] {
            assert_eq!(show_ttl(parse_ttl(text).unwrap()), text);
        }
        assert!(parse_ttl("99999999999999999d")
            .unwrap_err()
            .contains("too long"));
    }
}

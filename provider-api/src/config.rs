//! Reading a provider's JSON configuration.

use serde::de::DeserializeOwned;

use crate::{ProviderError, ProviderResult};

/// Parses a provider configuration from JSON, mapping every problem to
/// `INVALID_ARGUMENT` with serde's description (which names the field).
///
/// Put `#[serde(deny_unknown_fields)]` on your configuration type so that a
/// misspelt field is refused instead of silently ignored. An empty string is
/// read as `{}`.
pub fn parse_config<T: DeserializeOwned>(provider: &str, config_json: &str) -> ProviderResult<T> {
    let text = if config_json.trim().is_empty() {
        "{}"
    } else {
        config_json
    };
    serde_json::from_str(text).map_err(|e| {
        ProviderError::invalid_argument(format!("invalid {provider} provider configuration: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        path: String,
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse_config::<Cfg>("redb", r#"{"pth": "x"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("unknown field `pth`"), "{err}");
        assert!(err.message().contains("redb"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = parse_config::<Cfg>("redb", r#"{"path": 3}"#).unwrap_err();
        assert!(err.message().contains("invalid type"), "{err}");
    }
}

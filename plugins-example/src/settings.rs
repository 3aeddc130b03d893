//! Reading a plugin's settings from its spec.

use serde::de::DeserializeOwned;
use stateplug::plugin::PluginSpec;

/// Parses `spec.settings` into `T`; the error names the field.
pub(crate) fn parse<T: DeserializeOwned>(spec: &PluginSpec) -> Result<T, String> {
    serde_json::from_value(spec.settings.clone()).map_err(|e| format!("settings: {e}"))
}

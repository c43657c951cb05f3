//! `policy fmt`: Cedar's own formatter, so every officer's file looks the same.

use cedar_policy_formatter::{policies_str_to_pretty, Config};

#[derive(Debug, thiserror::Error)]
#[error("cannot format: {0}")]
pub struct FormatError(String);

/// The formatted text of a `.cedar` file (comments kept).
pub fn format_policies(text: &str) -> Result<String, FormatError> {
    let config = Config {
        line_width: 100,
        indent_width: 2,
    };
    policies_str_to_pretty(text, &config).map_err(|e| FormatError(format!("{e:?}")))
}

//! `govgate serve`: run with a configuration file.

use std::path::Path;

use anyhow::Context;

use crate::config::{Config, LogConfig, LogFormat};
use crate::server::{self, ConfigSource};

pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = crate::config::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    init_logging(&config.log);
    serve(
        config,
        ConfigSource {
            path: Some(config_path.to_path_buf()),
        },
    )
}

/// Runs the gateway on an already-loaded configuration.
pub fn serve(config: Config, source: ConfigSource) -> anyhow::Result<()> {
    server::run(config, source).context("the gateway could not start")
}

/// JSON (default) or human-readable logs on stdout; `GOVGATE_LOG` overrides the level.
pub fn init_logging(log: &LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("GOVGATE_LOG")
        .ok()
        .and_then(|directive| EnvFilter::try_new(directive).ok())
        .or_else(|| EnvFilter::try_new(&log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

//! `[console]` in the config: the console's pages on the `[health]` listener, and the token that
//! guards them when that listener is not loopback.

use std::path::PathBuf;

use serde::Deserialize;

/// `[console]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    /// An environment variable holding the token (needed off loopback).
    pub token_env: Option<String>,
    /// Or a file holding it.
    pub token_file: Option<PathBuf>,
}

/// The validated console settings.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub spec: ConsoleSpec,
    /// The token a browser must present (`None`: loopback only, no token).
    pub token: Option<String>,
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig").field("spec", &self.spec).field("token", &self.token.as_ref().map(|_| "***")).finish()
    }
}

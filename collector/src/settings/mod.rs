//! What every part's config shares, and nothing else: keyed errors and TOML parsing, durations
//! as operators write them, and secrets read from the environment or a file. A leaf: it imports
//! none of the modules whose settings use it, so config imports point one way.

pub mod duration;
pub mod meter_defaults;

use std::path::{Path, PathBuf};

pub use duration::HumanDuration;
pub use readings::config_file as error;
pub use error::{parse_toml, ConfigError, ConfigErrors};

/// A secret (token, password) from the environment variable `env` or the file `path` (relative to
/// `base`), never from the config text; `key` is the setting's path without `_env`/`_file`.
/// Problems are pushed onto `errors`.
pub fn read_secret(file: &str, key: &str, env: &Option<String>, path: &Option<PathBuf>, base: &Path, errors: &mut Vec<ConfigError>) -> Option<String> {
    match (env, path) {
        (Some(_), Some(_)) => {
            errors.push(ConfigError::new(file, format!("{key}_env"), "give the secret by environment variable or by file, not both"));
            None
        }
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
            _ => {
                errors.push(ConfigError::new(file, format!("{key}_env"), format!("environment variable {var} is not set or empty")));
                None
            }
        },
        (None, Some(p)) => read_file(file, &format!("{key}_file"), &base.join(p), errors).map(|b| String::from_utf8_lossy(&b).trim().to_owned()),
        (None, None) => None,
    }
}

/// The bytes of a file a setting names (a secret, a certificate), or a keyed problem.
pub fn read_file(file: &str, key: &str, path: &Path, errors: &mut Vec<ConfigError>) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) if !b.iter().all(u8::is_ascii_whitespace) => Some(b),
        Ok(_) => {
            errors.push(ConfigError::new(file, key, format!("{} is empty", path.display())));
            None
        }
        Err(e) => {
            errors.push(ConfigError::new(file, key, format!("cannot read {}: {e}", path.display())));
            None
        }
    }
}

/// `+08:00`-style offsets of meter clocks.
pub fn parse_utc_offset(text: &str) -> Option<chrono::FixedOffset> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = text[1..].split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    chrono::FixedOffset::east_opt(sign * secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_utc_offset("+08:00"), chrono::FixedOffset::east_opt(8 * 3600));
        assert_eq!(parse_utc_offset("-03:30"), chrono::FixedOffset::east_opt(-(3 * 3600 + 1800)));
        assert_eq!(parse_utc_offset("08:00"), None);
    }
}

//! Errors in config and reference-data files that name the file, the place, the key and what is
//! wrong; shared by the collector's config and the analytics job's reference data.

use std::fmt;

use serde::de::DeserializeOwned;

/// One problem in one config or profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as the user named it (or a built-in profile's name and source path).
    pub file: String,
    /// Line and column, where the problem has a place in the text.
    pub position: Option<(usize, usize)>,
    /// The key path, e.g. `modbus.devices[1].port`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    /// A problem found after parsing, at `key`.
    pub fn new(file: &str, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { file: file.to_owned(), position: None, key: key.into(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a config and the profiles it uses; shown one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// Parses TOML `text` into `T`, reporting the key path and position of the first problem.
pub fn parse_toml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ConfigError> {
    let located = |e: &toml::de::Error| e.span().map(|s| line_col(text, s.start));
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError {
        file: file.to_owned(),
        position: located(&e),
        key: String::new(),
        message: e.message().trim().to_owned(),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.inner();
        ConfigError {
            file: file.to_owned(),
            position: located(inner),
            key: if key == "." { String::new() } else { key },
            message: inner.message().trim().to_owned(),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

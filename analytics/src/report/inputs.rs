//! What a run was computed from, for the foot of the overview and the workbook's sources sheet:
//! the store, the periods and their time zone, every reference file with its SHA-256, and the
//! editions of the coefficients.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::AnalyticsConfig;

/// One reference file read by the run.
pub struct InputFile {
    /// What it is (enterprises, meters, energy coefficients ...).
    pub role: String,
    pub path: String,
    /// Hex SHA-256 of its bytes, or why it could not be read.
    pub sha256: String,
}

/// The inputs of a run.
pub struct RunInputs {
    /// Where the readings came from (a Parquet store's path, an InfluxDB URL and database).
    pub store: String,
    /// The window and its periods, with the time zone they are counted in.
    pub periods: String,
    pub files: Vec<InputFile>,
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// The time zone months are counted in, as a reader says it: China Standard Time for +08:00.
pub fn zone_label(offsets: &[chrono::FixedOffset]) -> String {
    let mut names: Vec<String> = offsets.iter().map(|o| if o.local_minus_utc() == 8 * 3600 { "China Standard Time (UTC+08:00)".to_owned() } else { format!("UTC{o}") }).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "China Standard Time (UTC+08:00)".to_owned()
    } else {
        names.join(", ")
    }
}

impl RunInputs {
    /// The config's reference files (and every rules file of `rules_dir`) with their checksums.
    pub fn gather(config: &AnalyticsConfig, config_path: &Path, rules_dir: Option<&Path>, store: String, periods: String) -> RunInputs {
        let mut list: Vec<(&str, PathBuf)> = vec![
            ("analytics config", config_path.to_path_buf()),
            ("enterprises", config.enterprises.clone()),
            ("meters", config.meters.clone()),
            ("production", config.production.clone()),
            ("energy coefficients", config.energy_coefficients.clone()),
            ("emission factors", config.emission_factors.clone()),
            ("data quality", config.data_quality.clone()),
        ];
        for (role, p) in [("process emission factors", &config.process_emissions), ("process inputs", &config.process_inputs), ("green electricity", &config.green_electricity)] {
            if let Some(p) = p {
                list.push((role, p.clone()));
            }
        }
        if let Some(dir) = rules_dir {
            let mut rules: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
            rules.sort();
            list.extend(rules.into_iter().map(|p| ("leader rules", p)));
        }
        let files = list
            .into_iter()
            .map(|(role, path)| InputFile { role: role.to_owned(), path: path.display().to_string(), sha256: sha256_file(&path).unwrap_or_else(|e| format!("unreadable: {e}")) })
            .collect();
        RunInputs { store, periods, files }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksums_are_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, "abc").unwrap();
        assert_eq!(super::sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(super::zone_label(&[chrono::FixedOffset::east_opt(8 * 3600).unwrap()]), "China Standard Time (UTC+08:00)");
    }
}

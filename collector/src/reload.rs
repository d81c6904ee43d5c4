//! Replacing the running config without a restart: on SIGHUP, `collector reload` or the console,
//! the config file is read and checked again; a config that fails the check changes nothing and
//! says why, one that changes what only a restart can (storage, sinks, journal, identity,
//! health endpoint) is refused naming those sections, and otherwise the sources are brought in
//! line with it ([`crate::sources::Sources::apply`]). The journal, its cursors and undelivered
//! readings are never touched. The running collector's pid is kept in `<data_dir>/collector.pid`
//! so that `collector reload` can find it.

use std::path::{Path, PathBuf};

use tokio::sync::oneshot;

use crate::config::Config;
use crate::sources::Changes;

/// Why a reload changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The config does not pass `check`; the text lists each problem with its key.
    #[error("the config has problems; nothing was changed:\n{0}")]
    Invalid(String),
    /// The config is valid but changes what the running collector cannot take over.
    #[error("nothing was changed: {} can only change with a restart", .0.join(", "))]
    NeedsRestart(Vec<&'static str>),
    /// The checked text could not be written to the config file.
    #[error("nothing was changed: cannot write {file}: {cause}")]
    Write { file: String, cause: String },
}

/// A request to reload, with where to send the outcome.
#[derive(Debug)]
pub struct ReloadRequest {
    /// A new text for the config file (from the console), written only once it passes the
    /// check and needs no restart; `None` reloads the file as it is.
    pub text: Option<String>,
    pub reply: Option<oneshot::Sender<Result<Changes, ReloadError>>>,
}

/// The sections of `new` that differ from `old` and need a restart to change.
pub fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.enterprise != new.enterprise || old.site != new.site {
        out.push("[gateway]");
    }
    if old.data_dir != new.data_dir {
        out.push("storage.data_dir");
    }
    if old.journal != new.journal {
        out.push("the journal settings ([storage])");
    }
    if old.dead_letters != new.dead_letters {
        out.push("storage.dead_letters");
    }
    if old.parquet != new.parquet {
        out.push("[sinks.parquet]");
    }
    if old.influxdb != new.influxdb {
        out.push("[sinks.influxdb]");
    }
    if old.health != new.health {
        out.push("[health]");
    }
    if old.console != new.console {
        out.push("[console]");
    }
    if old.clock_trusted != new.clock_trusted {
        out.push("[clock]");
    }
    out
}

/// The pid file of a collector whose data directory is `data_dir`.
pub fn pid_file(data_dir: &Path) -> PathBuf {
    data_dir.join("collector.pid")
}

/// Records this process as the collector running on `data_dir`; removed again on drop.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes the pid file (a failure is logged: reload by signal still works).
    pub fn create(data_dir: &Path) -> Self {
        let path = pid_file(data_dir);
        if let Err(e) = std::fs::create_dir_all(data_dir).and_then(|()| std::fs::write(&path, format!("{}\n", std::process::id()))) {
            tracing::warn!(file = %path.display(), error = %e, "cannot write the pid file; `collector reload` will not find this process (SIGHUP still works)");
        }
        Self(path)
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only our own: a second collector on the same directory may have replaced it.
        if std::fs::read_to_string(&self.0).ok().and_then(|t| t.trim().parse::<u32>().ok()) == Some(std::process::id()) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Why the running collector could not be asked to reload.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("no collector is running on {dir}: {file} is missing ({cause})")]
    NoPidFile { dir: String, file: String, cause: std::io::Error },
    #[error("{file} does not hold a process id: {text:?}")]
    BadPidFile { file: String, text: String },
    #[error("process {pid} named in {file} is not a running collector (a stale file after a crash?)")]
    NotRunning { pid: i32, file: String },
    #[error("cannot signal process {pid}: {cause}")]
    Signal { pid: i32, cause: std::io::Error },
}

/// Sends SIGHUP to the collector running on `data_dir`; returns its pid.
pub fn signal_running(data_dir: &Path) -> Result<i32, SignalError> {
    let path = pid_file(data_dir);
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|cause| SignalError::NoPidFile { dir: data_dir.display().to_string(), file: file.clone(), cause })?;
    let pid: i32 = text.trim().parse().map_err(|_| SignalError::BadPidFile { file: file.clone(), text: text.trim().to_owned() })?;
    // A pid file left by a killed collector may name a process that reused the number.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let is_collector = cmdline.split(|b| *b == 0).next().is_some_and(|argv0| String::from_utf8_lossy(argv0).ends_with("collector"));
    if pid <= 0 || !is_collector {
        return Err(SignalError::NotRunning { pid, file });
    }
    // SAFETY: kill(2) with a positive pid and a valid signal number has no memory effects.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        return Err(SignalError::Signal { pid, cause: std::io::Error::last_os_error() });
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!("[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[storage]\ndata_dir = \"data\"\n\n{extra}");
        Config::parse(Path::new("/tmp/c.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn sources_reload_and_storage_does_not() {
        let old = config("");
        let device = "[[modbus.devices]]\nname = \"m1\"\nhost = \"127.0.0.1\"\ninterval = \"1s\"\nmedium = \"electricity\"\n[[modbus.devices.points]]\nname = \"e\"\nfunction = \"holding\"\naddress = 0\ntype = \"u32\"\nquantity = \"active_energy_import\"\nkind = \"counter\"\nunit = \"kWh\"\n";
        assert!(restart_needed(&old, &config(device)).is_empty());
        assert_eq!(restart_needed(&old, &config("[sinks.parquet]\nmax_rows = 5\n")), vec!["[sinks.parquet]"]);
        assert_eq!(restart_needed(&old, &config("[clock]\ntrusted = true\n")), vec!["[clock]"]);
    }

    #[test]
    fn a_stale_pid_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(signal_running(dir.path()), Err(SignalError::NoPidFile { .. })));
        std::fs::write(pid_file(dir.path()), "garbage\n").unwrap();
        assert!(matches!(signal_running(dir.path()), Err(SignalError::BadPidFile { .. })));
        // This test process is not a collector.
        std::fs::write(pid_file(dir.path()), format!("{}\n", std::process::id())).unwrap();
        assert!(matches!(signal_running(dir.path()), Err(SignalError::NotRunning { .. })));
    }
}

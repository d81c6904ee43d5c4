//! `--pdf`: the print version printed by headless Chromium when one is installed; when none is,
//! the error says so and how to print by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Browsers tried, in order, on the PATH.
const BROWSERS: [&str; 4] = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/// Why no PDF was written.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("--pdf: no headless Chromium found on the PATH (looked for {looked}); install chromium, or open {html} in a browser and print it (A4, one enterprise per page)")]
    NoBrowser { looked: String, html: String },
    #[error("--pdf: {browser} failed to print {html}: {reason}")]
    Failed { browser: String, html: String, reason: String },
}

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|b| std::env::split_paths(&path).map(|d| d.join(b)).find(|p| p.is_file()))
}

/// Prints `html` to `pdf` (A4, as its print stylesheet lays it out); returns the browser used.
pub fn print(html: &Path, pdf: &Path) -> Result<PathBuf, PdfError> {
    let browser = find_browser().ok_or_else(|| PdfError::NoBrowser { looked: BROWSERS.join(", "), html: html.display().to_string() })?;
    let failed = |reason: String| PdfError::Failed { browser: browser.display().to_string(), html: html.display().to_string(), reason };
    // A profile of its own, so that a browser the user has open is neither used nor disturbed.
    let profile = std::env::temp_dir().join(format!("analytics-pdf-{}", std::process::id()));
    let html = std::path::absolute(html).map_err(|e| failed(e.to_string()))?;
    let out = Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-pdf-header-footer"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .map_err(|e| failed(e.to_string()));
    let _ = std::fs::remove_dir_all(&profile);
    let out = out?;
    let written = std::fs::metadata(pdf).map(|m| m.len() > 0).unwrap_or(false);
    if !out.status.success() || !written {
        return Err(failed(format!("{}; {}", out.status, String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""))));
    }
    Ok(browser)
}

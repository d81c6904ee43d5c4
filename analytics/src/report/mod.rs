//! What programme officers, analysts and enterprises read (docs/report.md): the centre's
//! overview ([`overview`]), the group report ([`html`]), a page per enterprise ([`enterprise`]),
//! a print version with an enterprise per A4 page and, on request, its PDF ([`pdf`]), and the
//! workbook of every table ([`workbook`]). Charts are inline SVG ([`svg`]); every figure is
//! rounded by the rules of [`figures`].

pub mod enterprise;
pub mod figures;
pub mod html;
pub mod inputs;
pub mod overview;
pub mod pdf;
pub mod svg;
pub mod workbook;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polars::prelude::*;

pub use html::ReportInput;

/// Writes `index.html` (the overview), `report.html` (the groups), `print.html`,
/// `enterprises/<id>.html` for every enterprise assessed, and `leaders.xlsx` (a sheet per table
/// of `sheets`, totals and sources) into `dir`; returns the overview's path.
pub fn write(dir: &Path, input: &ReportInput, sheets: &[(&str, &DataFrame)]) -> anyhow::Result<PathBuf> {
    let put = |path: &Path, text: String| std::fs::write(path, text).with_context(|| format!("writing {}", path.display()));
    let index = dir.join("index.html");
    put(&index, overview::index(input)?)?;
    put(&dir.join("report.html"), html::report(input)?)?;
    let pages = dir.join("enterprises");
    std::fs::create_dir_all(&pages).with_context(|| format!("creating {}", pages.display()))?;
    let mut enterprises: Vec<(&str, &str)> = input.results.iter().flat_map(|r| r.assessments.iter().map(|a| (a.enterprise.as_str(), a.name.as_str()))).collect();
    enterprises.sort_unstable();
    enterprises.dedup_by_key(|e| e.0);
    for (e, _) in &enterprises {
        put(&pages.join(format!("{e}.html")), enterprise::enterprise_page(input, e)?)?;
    }
    // The print version follows the overview's default order: group, then name.
    let group = |e: &str| input.reference.enterprises.iter().find(|(k, _)| k.as_str() == e).map_or(String::new(), |(_, x)| x.product_group.clone());
    let mut order: Vec<(String, &str, &str)> = enterprises.iter().map(|(e, n)| (group(e), *n, *e)).collect();
    order.sort();
    let ids: Vec<&str> = order.iter().map(|(_, _, e)| *e).collect();
    put(&dir.join("print.html"), overview::print(input, &ids)?)?;
    workbook::write(&dir.join("leaders.xlsx"), sheets, input.inputs, &html::coefficient_rows(input.reference))?;
    Ok(index)
}

//! The report as analysts and officers read it, on the demo fleet's year: headless Chromium opens
//! the overview, the group report and every enterprise page (no console error, every chart
//! drawn, no two labels of a chart overlapping, measured through the DevTools protocol), sorts
//! the overview, and prints the print version with one enterprise per A4 page; `--pdf` prints it
//! through Chromium or says clearly that there is none.
//!
//! `REPORT_SCREENSHOTS=<dir>` also saves screenshots of the pages there (docs/ holds them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::bin;
use e2e::cdp::{Browser, Page};

/// Runs the demo with hourly backfill (the 60-minute gap threshold sees full coverage); returns (temp dir, report dir, the by-hand leaders arguments).
fn demo() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo-data");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = Command::new(bin("demo"))
        .current_dir(&root)
        .args(["--seconds", "3", "--step-minutes", "60", "--broker", "in-process", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let by_hand = stdout.lines().find(|l| l.contains("the same job by hand:")).unwrap();
    let arg = |flag: &str| by_hand.split(&format!("{flag} ")).nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let args = vec!["leaders".into(), "--config".into(), arg("--config"), "--store".into(), arg("--store"), "--from".into(), arg("--from"), "--to".into(), arg("--to")];
    (dir, data_dir.join("centre/report"), args)
}

/// Every pair of texts of one chart whose boxes overlap, as "chart: a / b".
const OVERLAPS: &str = "(() => { const out = []; document.querySelectorAll('svg.chart').forEach(svg => {
  const ts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).map(t => ({t: t.textContent, r: t.getBoundingClientRect()}));
  for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++) {
    const a = ts[i].r, b = ts[j].r;
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left), h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w > 0.5 && h > 0.5) out.push(svg.dataset.chart + ': ' + ts[i].t + ' / ' + ts[j].t);
  } }); return out; })()";

/// The charts of the page: name, drawn width and height, and how many marks (bars, lines).
const CHARTS: &str = "[...document.querySelectorAll('svg.chart')].map(s => { const r = s.getBoundingClientRect();
  return [s.dataset.chart, Math.round(r.width), Math.round(r.height), s.querySelectorAll('rect,polyline,circle').length]; })";

/// Labels inside a chart that are cut off by its edge.
const CLIPPED: &str = "(() => { const out = []; document.querySelectorAll('svg.chart').forEach(svg => { const s = svg.getBoundingClientRect();
  svg.querySelectorAll('text').forEach(t => { if (!t.textContent.trim()) return; const r = t.getBoundingClientRect();
    if (r.left < s.left - 1 || r.right > s.right + 1) out.push(svg.dataset.chart + ': ' + t.textContent); }); }); return out; })()";

fn open(page: &mut Page, file: &Path) {
    page.goto(&format!("file://{}", file.display()));
    page.wait_for("document.fonts.status === 'loaded'", Duration::from_secs(10));
}

fn check_charts(page: &mut Page, what: &str) -> Vec<String> {
    let overlaps = page.eval(OVERLAPS);
    assert_eq!(overlaps, serde_json::json!([]), "{what}: labels overlap");
    let clipped = page.eval(CLIPPED);
    assert_eq!(clipped, serde_json::json!([]), "{what}: labels cut off");
    let charts = page.eval(CHARTS);
    let charts = charts.as_array().unwrap();
    for c in charts {
        assert!(c[1].as_u64().unwrap() > 100 && c[2].as_u64().unwrap() > 30, "{what}: chart {c} is not drawn");
        assert!(c[3].as_u64().unwrap() > 0, "{what}: chart {c} has no marks");
    }
    let errors = page.errors();
    assert!(errors.is_empty(), "{what}: {errors:?}");
    charts.iter().map(|c| c[0].as_str().unwrap().to_owned()).collect()
}

/// Pages of a PDF: its page objects (not the page tree's `/Pages`).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.matches("/Type /Page").count() - text.matches("/Type /Pages").count() + text.matches("/Type/Page").count() - text.matches("/Type/Pages").count()
}

#[test]
fn the_report_reads_and_prints_as_an_analyst_needs() {
    let (_dir, report, leaders_args) = demo();
    let screenshots = std::env::var_os("REPORT_SCREENSHOTS").map(PathBuf::from);
    let browser = Browser::launch();
    let mut page = browser.page();

    // The overview: every enterprise, each linking to its page; sortable by a click.
    open(&mut page, &report.join("index.html"));
    let links: Vec<String> = serde_json::from_value(page.eval("[...document.querySelectorAll('table.sortable tbody a')].map(a => a.getAttribute('href'))")).unwrap();
    assert_eq!(links.len(), 15, "fifteen enterprises: {links:?}");
    for l in &links {
        assert!(report.join(l).exists(), "{l} exists");
    }
    let errors = page.errors();
    assert!(errors.is_empty(), "{errors:?}");
    let sorted = page.eval(
        "(() => { const th = [...document.querySelectorAll('table.sortable th')].find(h => h.textContent.includes('Energy tce')); th.click();
          const i = th.cellIndex; return [...document.querySelectorAll('table.sortable tbody tr')].map(r => r.cells[i].dataset.v).filter(v => v !== '').map(Number); })()",
    );
    let values: Vec<f64> = serde_json::from_value(sorted).unwrap();
    assert!(values.len() >= 10 && values.windows(2).all(|w| w[0] <= w[1]), "sorted ascending by energy: {values:?}");
    let foot = page.eval("document.body.innerText").as_str().unwrap().to_owned();
    assert!(foot.contains("China Standard Time (UTC+08:00)"), "periods say their time zone");
    let checksums = foot.lines().filter(|l| l.split_whitespace().any(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))).count();
    assert!(checksums >= 8, "reference files listed with their SHA-256: {checksums}\n{foot}");
    if let Some(dir) = &screenshots {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("report-overview.png"), page.screenshot(1100, 1300)).unwrap();
    }

    // The group report: the ranked charts with their markers apart.
    open(&mut page, &report.join("report.html"));
    let charts = check_charts(&mut page, "report.html");
    assert!(charts.iter().filter(|c| *c == "ranked").count() >= 5, "{charts:?}");

    // Every enterprise page: its charts drawn, no label on another.
    for l in &links {
        open(&mut page, &report.join(l));
        let charts = check_charts(&mut page, l);
        for expected in ["energy-tce", "co2-by-source", "medium-electricity", "medium-water", "intensity-energy", "submeter-share", "coverage"] {
            assert!(charts.iter().any(|c| c == expected), "{l}: no {expected} chart in {charts:?}");
        }
        let text = page.eval("document.body.innerText").as_str().unwrap().to_owned();
        assert!(text.contains("China Standard Time"), "{l}: months say their time zone");
    }
    // The plant whose boundary meters are past calibration names them.
    open(&mut page, &report.join("enterprises/91340100MA7D00106M.html"));
    let text = page.eval("document.body.innerText").as_str().unwrap().to_owned();
    assert!(text.contains("Past calibration: works/incomer (electricity), due"), "the lapsed meter is named:\n{text}");
    if let Some(dir) = &screenshots {
        open(&mut page, &report.join("enterprises/91430100MA7D00101Q.html"));
        std::fs::write(dir.join("report-enterprise.png"), page.screenshot(1100, 1500)).unwrap();
        open(&mut page, &report.join("report.html"));
        std::fs::write(dir.join("report-group.png"), page.screenshot(1100, 900)).unwrap();
    }

    // Print: the overview alone, then the print version with an enterprise on each page after it.
    open(&mut page, &report.join("index.html"));
    let overview_pages = pdf_pages(&page.pdf());
    open(&mut page, &report.join("print.html"));
    let sections = page.eval("document.querySelectorAll('section.enterprise').length").as_u64().unwrap() as usize;
    assert_eq!(sections, 15);
    // What the print layout makes of each section, for the message if one overflows its page.
    page.call("Emulation.setEmulatedMedia", serde_json::json!({"media": "print"}));
    page.call("Emulation.setDeviceMetricsOverride", serde_json::json!({"width": 711, "height": 1000, "deviceScaleFactor": 1, "mobile": false}));
    let heights = page.eval("[...document.querySelectorAll('section.enterprise')].map(s => Math.round(s.getBoundingClientRect().height))");
    println!("enterprise sections in print, px at 711 px wide: {heights}");
    page.call("Emulation.clearDeviceMetricsOverride", serde_json::json!({}));
    page.call("Emulation.setEmulatedMedia", serde_json::json!({"media": ""}));
    let printed = page.pdf();
    assert!(printed.starts_with(b"%PDF-"));
    assert_eq!(pdf_pages(&printed), overview_pages + sections, "one A4 page per enterprise after {overview_pages} of overview; sections at 711 px wide (A4 less margins is 1039 px tall): {heights}");
    assert!(page.errors().is_empty());

    // --pdf: printed through Chromium; without one on the PATH, said so.
    let out = report.parent().unwrap().join("with-pdf");
    let run = Command::new(bin("analytics")).args(&leaders_args).arg("--out").arg(&out).arg("--pdf").output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let pdf = std::fs::read(out.join("report.pdf")).unwrap();
    assert!(stdout.contains("pdf: ") && pdf.starts_with(b"%PDF-"), "{stdout}");
    assert_eq!(pdf_pages(&pdf), overview_pages + sections, "the command's PDF has an enterprise per page too");
    let run = Command::new(bin("analytics")).args(&leaders_args).arg("--out").arg(report.parent().unwrap().join("no-browser")).arg("--pdf").env("PATH", "/nonexistent").output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("--pdf: no headless Chromium found on the PATH"), "{stderr}");
}

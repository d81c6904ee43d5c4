//! The store the collector writes is readable by polars with no other setup: `analytics summary`
//! scans it lazily (hive partitions) and finds exactly what the store's own reader finds.

use chrono::{DateTime, Utc};
use e2e::{bin, device, run_collector, write_config, Sim};

#[test]
fn analytics_summary_counts_what_the_collector_stored() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=tuf2000m:exceptions=0.3", "--device", "3=acrel_adw300"]);
    let dir = tempfile::tempdir().unwrap();
    let devices = [
        device("incomer", sim.port(), 1, "eastron_sdm630", "1s", ""),
        device("water", sim.port(), 2, "tuf2000m", "1s", ""),
        device("kiln", sim.port(), 3, "acrel_adw300", "1s", ""),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    assert!(run_collector(&config, "3500ms").status.success());

    let store = dir.path().join("data/readings");
    let stored = readings::store::read_range(&store, DateTime::from_timestamp(0, 0).unwrap(), Utc::now()).unwrap();
    let out = std::process::Command::new(bin("analytics")).args(["summary", "--store"]).arg(&store).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");

    let series = 16 + 2 + 1;
    assert!(stdout.contains(&format!("{series} series, {} readings", stored.len())), "{stdout}");
    // The water meter's failed polls are rows without a value, counted per series.
    let volume = stdout.lines().find(|l| l.starts_with("water") && l.contains(" volume ")).expect("a volume row");
    let cols: Vec<&str> = volume.split_whitespace().collect();
    let missing = stored.iter().filter(|r| r.meter.as_str() == "water" && r.quantity.to_string() == "volume" && r.value.is_none()).count();
    assert_eq!(cols[4], missing.to_string(), "{volume}");
    // Every series: its readings and those without a value, however the store encoded the
    // values (decimal mantissas or doubles), as the store's reader counts them.
    for row in stdout.lines().filter(|l| ["incomer ", "water ", "kiln "].iter().any(|m| l.starts_with(m))) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let of_series: Vec<_> = stored.iter().filter(|r| r.meter.as_str() == cols[0] && r.quantity.to_string() == cols[1]).collect();
        assert_eq!(cols[3], of_series.len().to_string(), "{row}");
        assert_eq!(cols[4], of_series.iter().filter(|r| r.value.is_none()).count().to_string(), "{row}");
    }
    // The Acrel meter's energy register is an integer times 0.01: short decimals, stored as
    // mantissas, and counted above like the doubles.
    let kiln: Vec<f64> = stored.iter().filter(|r| r.meter.as_str() == "kiln").filter_map(|r| r.value).collect();
    assert!(!kiln.is_empty() && kiln.iter().all(|v| *v == (v * 100.0).round() / 100.0), "{kiln:?}");
}

//! `collector`: the edge gateway daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use std::fmt::Write as _;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use collector::config::{Config, Endpoint, HumanDuration, SerialLine};
use collector::modbus::rtu;
use tracing_subscriber::EnvFilter;

/// Reads energy, water and carbon meters over Modbus TCP, normalises their readings and stores
/// them in an embedded Parquet store.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr as text for people, or as one JSON object per line for a log
    /// pipeline (journald, Loki, Elasticsearch). RUST_LOG sets the level (default info).
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Poll every configured device until SIGINT or SIGTERM, then write buffered readings and exit.
    /// SIGHUP reloads the config file: devices and MQTT subscriptions added, changed or removed
    /// without a restart; a config with problems changes nothing.
    Run {
        /// The collector's TOML config.
        #[arg(short, long)]
        config: PathBuf,
        /// Stop by itself after this long (e.g. "90s"), as if sent SIGTERM.
        #[arg(long = "for", value_parser = parse_duration)]
        run_for: Option<HumanDuration>,
    },
    /// Validate a config and print the poll plan: devices, points, and each cycle's requests.
    Check {
        /// The collector's TOML config.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Check a config and ask the collector running on its data directory to reload it (SIGHUP
    /// to the pid in <data_dir>/collector.pid). Devices and MQTT subscriptions added, changed or
    /// removed take effect at once; storage, sinks, the journal, [gateway], [health] and [clock]
    /// need a restart. The collector logs what changed, or why nothing did.
    Reload {
        /// The collector's TOML config (the file the running collector was started with).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// List the built-in meter profiles (Modbus register maps and DL/T 645 item lists).
    Profiles,
    /// Write a commented starter config (one Modbus TCP meter, the health endpoint, every other
    /// section commented out) and check it; edit it, then `collector check` it again.
    Init {
        /// Where to write it.
        #[arg(short, long, default_value = "collector.toml")]
        output: PathBuf,
        /// The enterprise's unified social credit code, or a local id.
        #[arg(long, default_value = "my-enterprise")]
        enterprise: String,
        /// The site (plant, workshop) the gateway meters.
        #[arg(long, default_value = "plant-1")]
        site: String,
        /// The data directory (journal, dead letters, Parquet store).
        #[arg(long, default_value = "/var/lib/collector")]
        data_dir: String,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Find what answers on a line (a DL/T 645 or CJ/T 188 meter by reading its address, which
    /// works on a line with one meter of that protocol; Modbus unit ids by reading holding
    /// register 0) and print a config snippet for it on stdout; progress and a summary go to
    /// stderr.
    Scan {
        /// The serial port, e.g. /dev/ttyUSB0.
        #[arg(long, required_unless_present = "host", conflicts_with = "host")]
        device: Option<PathBuf>,
        /// The serial port's baud rate.
        #[arg(long, default_value_t = 9600, conflicts_with = "host")]
        baud: u32,
        /// The serial port's parity.
        #[arg(long, value_enum, default_value = "even", conflicts_with = "host")]
        parity: collector::line::Parity,
        /// The serial port's stop bits (1 or 2).
        #[arg(long, default_value_t = 1, conflicts_with = "host", value_parser = clap::value_parser!(u8).range(1..=2))]
        stop_bits: u8,
        /// A serial server (DTU) passing raw frames over TCP, instead of a serial port.
        #[arg(long, requires = "port")]
        host: Option<String>,
        /// The serial server's TCP port.
        #[arg(long, requires = "host")]
        port: Option<u16>,
        /// The protocols to probe for, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "modbus,dlt645,cjt188")]
        protocols: Vec<collector::scan::Protocol>,
        /// The Modbus unit ids to probe: FIRST-LAST, or one id.
        #[arg(long, default_value = "1-247", value_parser = parse_units)]
        units: collector::scan::UnitRange,
        /// How long each probe waits for an answer.
        #[arg(long, default_value = "200ms", value_parser = parse_duration)]
        timeout: HumanDuration,
        /// The serial adapter echoes each request (half-duplex RS-485 without echo suppression).
        #[arg(long)]
        echo: bool,
    },
}

/// The starter config `collector init` writes.
const STARTER: &str = include_str!("../../config/collector.starter.toml");

fn parse_duration(s: &str) -> Result<HumanDuration, String> {
    HumanDuration::parse(s)
}

fn parse_units(s: &str) -> Result<collector::scan::UnitRange, String> {
    s.parse().map_err(|e: collector::scan::ScanError| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => logs.json().with_current_span(false).init(),
    }
    let result = match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config, run_for } => run(&config, run_for),
        Command::Reload { config } => reload(&config),
        Command::Profiles => profiles(),
        Command::Init { output, enterprise, site, data_dir, force } => init(&output, &enterprise, &site, &data_dir, force),
        Command::Scan { device, baud, parity, stop_bits, host, port, protocols, units, timeout, echo } => {
            let endpoint = match (device, host, port) {
                (Some(path), _, _) => Ok(Endpoint::Serial(SerialLine { name: collector::scan::LINE_NAME.into(), path, baud, parity, stop_bits, byte_timeout: collector::scan::BYTE_TIMEOUT, echo })),
                // A serial server passes the line's frames through as they are.
                (None, Some(host), Some(port)) => Ok(Endpoint::Tcp { host, port, framing: collector::config::Framing::RtuOverTcp }),
                _ => Err(anyhow::anyhow!("scan needs --device, or --host and --port")),
            };
            endpoint.and_then(|endpoint| scan(collector::scan::Options { endpoint, protocols, units, timeout: timeout.0 }))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|errors| {
        let n = errors.0.len();
        anyhow::anyhow!("{errors}\n{n} problem{} in the config", if n == 1 { "" } else { "s" })
    })
}

fn run(path: &std::path::Path, run_for: Option<HumanDuration>) -> anyhow::Result<()> {
    let config = load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(async move {
        let shutdown = async move {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return std::future::pending().await;
                }
            };
            let timer = async {
                match run_for {
                    Some(d) => tokio::time::sleep(d.0).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
                _ = term.recv() => tracing::info!("SIGTERM"),
                _ = timer => tracing::info!("--for elapsed"),
            }
        };
        let (reload_tx, reloads) = tokio::sync::mpsc::channel(4);
        // The console's Apply sends through this clone.
        let reload_for_console = reload_tx.clone();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        tracing::info!("SIGHUP");
                        // With the queue full this one is dropped: a queued SIGHUP reload
                        // reads the file as it is then, and a console Apply writes its text to
                        // the file when accepted.
                        let _ = reload_tx.try_send(collector::reload::ReloadRequest { text: None, reply: None });
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "cannot listen for SIGHUP; reload needs a restart"),
        }
        collector::run::serve(config, Default::default(), shutdown, reload_for_console, reloads).await
    })?;
    println!("{summary}");
    Ok(())
}

fn reload(path: &std::path::Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let pid = collector::reload::signal_running(&config.data_dir)?;
    eprintln!("{} is valid; asked the collector (pid {pid}) to reload it: its log says what changed", path.display());
    Ok(())
}

fn init(output: &std::path::Path, enterprise: &str, site: &str, data_dir: &str, force: bool) -> anyhow::Result<()> {
    anyhow::ensure!(force || !output.exists(), "{} exists; give --force to replace it, or --output another path", output.display());
    let quoted = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    let text = STARTER.replace("{enterprise}", &quoted(enterprise)).replace("{site}", &quoted(site)).replace("{data_dir}", &quoted(data_dir));
    // Check before writing, so a bad --enterprise or --site is refused with the key it sets.
    if let Err(errors) = Config::parse(output, &text) {
        let problems: Vec<String> = errors.0.iter().map(|e| format!("{}: {}", e.key, e.message)).collect();
        anyhow::bail!("the options make an invalid config: {}", problems.join("; "));
    }
    std::fs::write(output, text).with_context(|| format!("writing {}", output.display()))?;
    println!("wrote {}: one Modbus TCP meter at 192.168.1.10, the health endpoint on 127.0.0.1:9464", output.display());
    println!("edit the [[modbus.devices]] for your meters, then: collector check --config {}", output.display());
    Ok(())
}

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let mut out = String::new();
    writeln!(out, "config {} is valid", path.display())?;
    writeln!(out, "gateway: enterprise {} site {}", config.enterprise, config.site)?;
    writeln!(out, 
        "store:   {} (Parquet, a file every {} readings or {})",
        config.store_dir().display(),
        config.parquet.max_rows,
        config.parquet.max_age
    )?;
    if !config.parquet.enabled {
        writeln!(out, "         (the Parquet sink is disabled)")?;
    }
    if let Some(influx) = &config.influxdb {
        writeln!(
            out,
            "influxdb: POST {} ({}, a batch every {} readings or {}, gzip {}, timeout {}, backoff {} up to {})",
            influx.write_url,
            match influx.auth {
                collector::sink::influxdb::Auth::None => "no auth",
                collector::sink::influxdb::Auth::Token(_) => "token auth",
                collector::sink::influxdb::Auth::Basic { .. } => "basic auth",
            },
            influx.max_rows,
            influx.max_age,
            if influx.gzip { "on" } else { "off" },
            influx.timeout,
            influx.retry_backoff,
            influx.max_backoff
        )?;
    }
    if let Some((m, credentials)) = &config.mqtt {
        writeln!(
            out,
            "mqtt: {}:{} as client {:?} ({}, QoS 1, persistent session), {} subscription(s)",
            m.host,
            m.port,
            m.client_id,
            if credentials.ca.is_some() { "TLS" } else { "plain TCP" },
            m.subscriptions.len()
        )?;
        for s in &m.subscriptions {
            writeln!(out, "  {} -> meter {:?}, {:?} payload, {} field(s)", s.topic, s.meter, s.format, s.fields.len())?;
        }
    }
    if let Some(h) = &config.health {
        writeln!(out, "health: http://{}/healthz and /metrics", h.listen)?;
    }
    writeln!(
        out,
        "journal: {} (budget {} bytes, when full: {}, fsync every {} readings or {})",
        config.journal_dir().display(),
        config.journal.budget_bytes,
        config.journal.when_full.as_str(),
        config.journal.sync_records,
        config.journal.sync_delay
    )?;
    writeln!(
        out,
        "disk:    {} bytes kept free on the data directory's filesystem; dead letters in {} up to {} bytes (files of {})",
        config.journal.reserve_bytes,
        config.dead_letter_dir().display(),
        config.dead_letters.max_bytes,
        config.dead_letters.file_bytes
    )?;
    let clock = match (config.clock_trusted, collector::clock::ClockTrust::new(false).synchronised()) {
        (true, _) => "trusted ([clock] trusted = true)",
        (false, true) => "synchronised (the kernel says so); readings are flagged clock_unsynced whenever it is not",
        (false, false) => "NOT synchronised now: readings will be stored as clock_unsynced until NTP syncs it (or set [clock] trusted = true)",
    };
    writeln!(out, "clock:   {clock}")?;
    for d in &config.devices {
        writeln!(out)?;
        writeln!(out, 
            "device {} at {} unit {}: {}, every {}, timeout {}, {} retries, at most {} registers a request, gaps up to {}",
            d.meter,
            d.endpoint,
            d.unit,
            d.profile.as_deref().map_or("points from the config".to_owned(), |p| format!("profile {p}")),
            d.interval,
            d.timeout,
            d.retries,
            d.limits.max_registers,
            d.limits.max_gap
        )?;
        writeln!(out, 
            "  {:<24} {:<24} {:<12} {:<8} {:<8} {:>6} {:<4} {:<5} {:>8} {:<12} {:>6}",
            "point", "quantity", "medium", "kind", "table", "addr", "type", "order", "scale", "unit", "every"
        )?;
        for (i, p) in d.map.points.iter().enumerate() {
            let unit = if p.unit == p.quantity.canonical_unit() {
                p.unit.to_string()
            } else {
                format!("{}->{}", p.unit, p.quantity.canonical_unit())
            };
            let scale = match p.scale_from {
                Some((s, _, _)) => format!("{}*{}", p.scale, d.map.scale_registers[s].name),
                None => p.scale.to_string(),
            };
            writeln!(out, 
                "  {:<24} {:<24} {:<12} {:<8} {:<8} {:>6} {:<4} {:<5} {:>8} {:<12} {:>6}",
                p.name,
                p.quantity.to_string(),
                p.medium.to_string(),
                p.kind.to_string(),
                p.location.function.to_string(),
                p.location.address,
                p.location.data_type.to_string(),
                p.location.order.to_string(),
                scale,
                unit,
                HumanDuration(std::time::Duration::from_millis(d.point_interval_ms[i])).to_string()
            )?;
        }
        let mut intervals: Vec<u64> = d.point_interval_ms.clone();
        intervals.sort_unstable();
        intervals.dedup();
        for every in intervals {
            let (values, requests) = d.cycle_requests(Some(every));
            writeln!(out, 
                "  cycle every {}: {} values in {} request(s)",
                HumanDuration(std::time::Duration::from_millis(every)),
                values,
                requests.len()
            )?;
            for r in requests {
                writeln!(out, "    {r}")?;
            }
        }
    }
    for d in &config.dlt645_devices {
        writeln!(out)?;
        writeln!(
            out,
            "DL/T 645 meter {} at {} address {}: profile {}, every {}, timeout {}, {} FEH wake-up bytes",
            d.meter, d.endpoint, d.address, d.profile, d.interval, d.timeout, d.preamble
        )?;
        writeln!(out, "  {:<24} {:<10} {:<24} {:<8} {:<11} {:<6}", "item", "DI", "quantity", "kind", "format", "unit")?;
        for i in &d.items {
            writeln!(out, "  {:<24} {:<10} {:<24} {:<8} {:<11} {:<6}", i.name, format!("{:08X}", i.di), i.quantity.to_string(), i.kind.to_string(), i.format.to_string(), i.unit.to_string())?;
        }
        if let Endpoint::Serial(line) = &d.endpoint {
            let wire = dlt645_cycle_time(d, line.baud);
            writeln!(out, "  a cycle: {} requests, {:.0} ms on the wire at {} baud, plus the meter's 20-500 ms turnaround for each", d.items.len(), wire.as_secs_f64() * 1000.0, line.baud)?;
        }
    }
    for d in &config.cjt188_devices {
        writeln!(out)?;
        writeln!(
            out,
            "CJ/T 188 meter {} at {} address {}: {} meter ({}), every {}, timeout {}, {} FEH wake-up bytes, DI {:?}, units {:?}",
            d.meter, d.endpoint, d.address, d.meter_type, d.medium, d.interval, d.timeout, d.dialect.preamble.len(), d.dialect.di_order, d.dialect.unit_position
        )?;
        let reads = if d.meter_type.is_heat_meter() { "heat_energy, heat_power, volume_flow, volume, supply_temperature, return_temperature, operating_time" } else { "volume" };
        writeln!(out, "  reads DI 901FH once a cycle: {reads}, each converted from the unit code it arrives with")?;
        if let Endpoint::Serial(line) = &d.endpoint {
            writeln!(out, "  a cycle: {:.0} ms on the wire at {} baud, plus the meter's answer delay", cjt188_cycle_time(d, line).as_secs_f64() * 1000.0, line.baud)?;
        }
    }
    write_line_loads(&mut out, &config)?;
    emit(&out);
    Ok(())
}

/// For each serial line, how much of its time the devices' polls take: the worst case, every
/// point of every device read at its device's interval.
fn write_line_loads(out: &mut String, config: &Config) -> std::fmt::Result {
    let mut lines: Vec<&SerialLine> = Vec::new();
    for d in &config.devices {
        if let Endpoint::Serial(line) = &d.endpoint {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    for d in &config.dlt645_devices {
        if let Endpoint::Serial(line) = &d.endpoint {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    for d in &config.cjt188_devices {
        if let Endpoint::Serial(line) = &d.endpoint {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    for line in lines {
        let mut busy_per_s = 0.0;
        let mut requests_per_s = 0.0;
        for d in config.cjt188_devices.iter().filter(|d| d.endpoint == Endpoint::Serial(line.clone())) {
            let per_s = 1000.0 / d.interval.as_millis() as f64;
            requests_per_s += per_s;
            busy_per_s += cjt188_cycle_time(d, line).as_secs_f64() * per_s;
        }
        for d in config.dlt645_devices.iter().filter(|d| d.endpoint == Endpoint::Serial(line.clone())) {
            let per_s = 1000.0 / d.interval.as_millis() as f64;
            requests_per_s += d.items.len() as f64 * per_s;
            busy_per_s += dlt645_cycle_time(d, line.baud).as_secs_f64() * per_s;
        }
        for d in config.devices.iter().filter(|d| d.endpoint == Endpoint::Serial(line.clone())) {
            // The worst case: every point read at every slot of the device.
            let (_, requests) = d.cycle_requests(None);
            let per_s = 1000.0 / d.interval.as_millis() as f64;
            requests_per_s += requests.len() as f64 * per_s;
            busy_per_s += requests.iter().map(|r| rtu::exchange_time(line, r.count).as_secs_f64()).sum::<f64>() * per_s;
        }
        writeln!(out)?;
        writeln!(
            out,
            "line {} ({} baud): at most {:.1} requests/s taking {:.0} ms of every second on the wire ({:.1} % of the line), before the meters' own response delays",
            line.name,
            line.baud,
            requests_per_s,
            busy_per_s * 1000.0,
            busy_per_s * 100.0
        )?;
    }
    Ok(())
}

fn profiles() -> anyhow::Result<()> {
    let mut out = String::new();
    for (name, _) in collector::modbus::profile::BUILTIN {
        match collector::modbus::profile::Profile::builtin(name) {
            Some(Ok(p)) => writeln!(
                out,
                "{:<22} {:<28} {:<36} {:>3} points  {}",
                name,
                p.meta.vendor,
                p.meta.model,
                p.map.points.len(),
                if p.meta.verified { "verified" } else { "unverified: check against the manual" }
            ),
            Some(Err(e)) => writeln!(out, "{name}: invalid: {e:?}"),
            None => Ok(()),
        }?;
    }
    for (name, _) in collector::dlt645::profile::BUILTIN {
        match collector::dlt645::profile::Profile::builtin(name) {
            Some(Ok(p)) => writeln!(
                out,
                "{:<22} {:<28} {:<36} {:>3} items   {}, {}",
                name,
                p.meta.vendor,
                p.meta.model,
                p.items.len(),
                p.meta.protocol,
                if p.meta.verified { "verified" } else { "unverified: check against the manual" }
            ),
            Some(Err(e)) => writeln!(out, "{name}: invalid: {e:?}"),
            None => Ok(()),
        }?;
    }
    emit(&out);
    Ok(())
}

/// Scans a line and prints the config for what answered on stdout, progress and a summary on
/// stderr (so that `collector scan ... > found.toml` keeps only the config).
fn scan(options: collector::scan::Options) -> anyhow::Result<()> {
    use collector::scan::Progress;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let mut progress = |p: Progress| match p {
        Progress::Probing(_) => eprintln!("{p}"),
        Progress::Units { .. } | Progress::Identifying { .. } => eprintln!("  {p}"),
    };
    let found = runtime.block_on(collector::scan::scan(&options, &mut progress))?;
    eprint!("{found}");
    emit(&found.snippet());
    Ok(())
}

/// Prints a command's whole output; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Wire time of one DL/T 645 cycle: every item's request (with its wake-up bytes) and answer.
fn dlt645_cycle_time(d: &collector::dlt645::device::Device, baud: u32) -> std::time::Duration {
    use collector::dlt645::{codec, master};
    d.items
        .iter()
        .map(|i| {
            let request = master::request(&d.address, i);
            let sent = master::encode(&request, d.preamble).len();
            codec::exchange_time(baud, sent, request.answer_len(i.format.bytes()))
        })
        .sum()
}

/// Wire time of one CJ/T 188 cycle: the 901FH request (with its wake-up bytes) and the answer of
/// the meter's type.
fn cjt188_cycle_time(d: &collector::cjt188::device::Device, line: &SerialLine) -> std::time::Duration {
    use collector::cjt188::codec::{answer_len, exchange_time, Di, Request};
    let request = Request::read_data(d.meter_type, d.address, Di::READ_DATA, 0);
    let answer = answer_len(&request, d.meter_type).unwrap_or(0);
    exchange_time(line, Request::encoded_len(d.dialect.preamble), answer)
}

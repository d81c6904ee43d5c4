//! `meter-sim`: serve simulated meters over Modbus TCP, RTU over TCP or RTU on a serial line, and
//! DL/T 645-2007 and CJ/T 188 meters on raw-frame lines (serial, or TCP as a DTU passes them).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Parser;
use collector::line::Parity;
use collector::settings::HumanDuration;
use meter_sim::{serve, Cjt188Spec, DeviceSpec, Dlt645Spec, Simulator};
use tracing_subscriber::EnvFilter;

/// Serves simulated energy, water and steam meters over Modbus TCP (or RTU over TCP, or RTU on a
/// serial device), one unit id per meter, each with a built-in profile's register map, a daily
/// and weekly load shape, counters that only grow, and optional faults.
///
/// DL/T 645-2007 (--dlt645) and CJ/T 188 (--cjt188) meters answer raw frames: with any of them,
/// the listener (or --serial device) is one bus carrying every meter given, each request told by
/// its first bytes; Modbus meters on it answer RTU (add --rtu-over-tcp on TCP to say so).
///
/// Prints `listening on ADDRESS` once bound (use port 0 to let the system choose), or
/// `listening on PATH` with --serial.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5020")]
    listen: String,
    /// A meter: UNIT=PROFILE[:OPTIONS], options comma-separated: rated=N (kW, m3/h or t/h),
    /// exceptions=SHARE, slow=DURATION@SHARE, dead, rollover (integer counters wrap a minute after
    /// start), holes (exception 02 for registers no point covers). Repeat for more meters.
    #[arg(long = "device", required_unless_present_any = ["mqtt", "dlt645", "cjt188"])]
    devices: Vec<DeviceSpec>,
    /// A DL/T 645-2007 meter: ADDRESS=PROFILE[:OPTIONS], ADDRESS the 12-digit nameplate address,
    /// PROFILE a collector DL/T 645 profile (e.g. dlt645_generic_3phase); options rated=N (kW),
    /// exceptions=SHARE (answers "other error"), slow=DURATION@SHARE, dead. It answers its
    /// profile's items, its clock (UTC+8), settlement day (1st 00:00) and the energy totals at
    /// its last 12 settlements; other items get "no data requested". Repeat for more meters.
    #[arg(long = "dlt645")]
    dlt645: Vec<Dlt645Spec>,
    /// A CJ/T 188 meter: TYPE:ADDRESS[:OPTIONS], TYPE cold_water, hot_water, drinking_water,
    /// reclaimed_water, heat, cooling, heat_and_cooling or gas, ADDRESS the 14-digit nameplate
    /// address; options rated=N (m3/h, kW for heat), exceptions=SHARE (abnormal answers),
    /// slow=DURATION@SHARE, dead. It answers DI 901FH. Repeat for more meters.
    #[arg(long = "cjt188")]
    cjt188: Vec<Cjt188Spec>,
    /// Also (or only) publish simulated MQTT meters to the broker at HOST:PORT.
    #[arg(long)]
    mqtt: Option<String>,
    /// How many MQTT meters.
    #[arg(long, default_value_t = 10)]
    mqtt_meters: usize,
    /// How often each MQTT meter publishes (e.g. "1s", "100ms").
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    mqtt_interval: HumanDuration,
    /// The MQTT payload style.
    #[arg(long, value_enum, default_value = "nested")]
    mqtt_style: meter_sim::mqtt::Style,
    /// Stop after this many rounds of MQTT messages (default: run until stopped).
    #[arg(long)]
    mqtt_rounds: Option<u64>,
    /// Seed of the meters' sizes, counter starts and noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve the values of this instant (RFC 3339) forever, instead of following the clock.
    #[arg(long)]
    freeze_at: Option<DateTime<Utc>>,
    /// Speak RTU frames over TCP, as a serial-to-Ethernet converter does, instead of Modbus TCP.
    #[arg(long)]
    rtu_over_tcp: bool,
    /// Serve RTU on this serial device instead of listening on TCP (e.g. one end of
    /// `socat pty,raw,echo=0,link=/tmp/ttyA pty,raw,echo=0,link=/tmp/ttyB`). Unit ids no meter
    /// has stay silent, as on a real bus.
    #[arg(long, conflicts_with_all = ["rtu_over_tcp", "drop_connections"])]
    serial: Option<PathBuf>,
    /// Baud rate of the serial device.
    #[arg(long, default_value_t = 9600, requires = "serial")]
    baud: u32,
    /// Parity of the serial device.
    #[arg(long, value_enum, default_value = "even", requires = "serial")]
    parity: Parity,
    /// Share of serial answers sent with one bit flipped (a CRC or checksum error at the
    /// master), spread evenly; also on TCP for a line with DL/T 645 or CJ/T 188 meters.
    #[arg(long, default_value_t = 0.0)]
    crc_errors: f64,
    /// Share of requests on which the connection is dropped instead of answered.
    #[arg(long, default_value_t = 0.0)]
    drop_connections: f64,
    /// Directory of extra profiles (NAME.toml), searched before the built-in ones.
    #[arg(long)]
    profiles_dir: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<HumanDuration, String> {
    HumanDuration::parse(s)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if let Some(broker) = &cli.mqtt {
        let (host, port) = broker.rsplit_once(':').and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?))).context("--mqtt takes HOST:PORT")?;
        let (meters, interval, style, seed, rounds) = (cli.mqtt_meters, cli.mqtt_interval.0, cli.mqtt_style, cli.seed, cli.mqtt_rounds);
        let publisher = tokio::spawn(async move { meter_sim::mqtt::publish(&host, port, meters, interval, style, seed, rounds).await });
        if cli.devices.is_empty() && cli.dlt645.is_empty() && cli.cjt188.is_empty() {
            tokio::select! {
                r = publisher => eprintln!("published {} MQTT messages", r.context("the MQTT publisher")??),
                _ = tokio::signal::ctrl_c() => {}
            }
            return Ok(());
        }
    }
    let sim = Simulator::new(&cli.devices, cli.seed, cli.freeze_at, cli.profiles_dir.as_deref()).map_err(anyhow::Error::msg)?;
    anyhow::ensure!((0.0..=1.0).contains(&cli.crc_errors), "--crc-errors takes a share between 0 and 1");
    if !cli.dlt645.is_empty() || !cli.cjt188.is_empty() {
        return serve_raw_bus(&cli, sim).await;
    }
    anyhow::ensure!(cli.crc_errors == 0.0 || cli.serial.is_some(), "--crc-errors needs --serial, or DL/T 645 or CJ/T 188 meters");
    if let Some(path) = &cli.serial {
        let sim = Arc::new(sim.on_serial_bus());
        let port = collector::line::open_port(path, cli.baud, cli.parity, 1).with_context(|| format!("opening {}", path.display()))?;
        let server = meter_sim::serve_serial(port, Arc::clone(&sim), cli.crc_errors);
        println!("listening on {}", path.display());
        tokio::select! {
            r = server => r.with_context(|| format!("serving on {}", path.display()))?,
            _ = tokio::signal::ctrl_c() => {}
        }
        let (served, refused) = sim.counts();
        eprintln!("served {served} requests, refused {refused}");
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(&cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    println!("listening on {}", listener.local_addr()?);
    let sim = Arc::new(sim);
    let server = async {
        if cli.rtu_over_tcp {
            meter_sim::serve_rtu_over_tcp(listener, Arc::clone(&sim), cli.drop_connections).await
        } else {
            serve(listener, Arc::clone(&sim), cli.drop_connections).await
        }
    };
    tokio::select! {
        r = server => r.context("serving")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    let (served, refused) = sim.counts();
    eprintln!("served {served} requests, refused {refused}");
    Ok(())
}

/// Serves every meter of `cli` on one raw-frame bus: the serial device, or the TCP listener.
async fn serve_raw_bus(cli: &Cli, sim: Simulator) -> anyhow::Result<()> {
    // A Modbus TCP client would send MBAP headers the bus cannot read: say so rather than stay
    // silent.
    anyhow::ensure!(
        cli.serial.is_some() || cli.rtu_over_tcp || !sim.has_meters(),
        "DL/T 645 and CJ/T 188 meters share a raw-frame line: add --rtu-over-tcp to serve the Modbus meters on it as RTU"
    );
    let bus = meter_sim::bus::Bus::new(sim, &cli.dlt645, &cli.cjt188, cli.seed, cli.profiles_dir.as_deref(), cli.crc_errors).map_err(anyhow::Error::msg)?;
    let bus = Arc::new(bus);
    let serving = async {
        if let Some(path) = &cli.serial {
            let port = collector::line::open_port(path, cli.baud, cli.parity, 1).with_context(|| format!("opening {}", path.display()))?;
            println!("listening on {}", path.display());
            meter_sim::bus::serve_bus_serial(port, Arc::clone(&bus)).await.with_context(|| format!("serving on {}", path.display()))
        } else {
            let listener = tokio::net::TcpListener::bind(&cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
            println!("listening on {}", listener.local_addr()?);
            meter_sim::bus::serve_bus_tcp(listener, Arc::clone(&bus), cli.drop_connections).await.context("serving")
        }
    };
    tokio::select! {
        r = serving => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    let (served, refused) = bus.modbus().counts();
    eprintln!("served {served} requests, refused {refused}");
    Ok(())
}

//! The live part of the demo: the gateways of the plants marked `live` in the fleet run the real
//! collector against simulated meters (Modbus TCP served by meter-sim, MQTT meters publishing
//! through a broker) into their own Parquet stores, with progress while they run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use collector::config::Config;
use collector::stats::Stats;
use meter_sim::{DeviceSpec, Simulator};
use readings::Medium;

use crate::broker::Broker;
use meter_sim::fleet::{Fleet, Live, Plant, Role};

/// A gateway that ran: its plant, its store, and the collector's closing summary.
pub struct GatewayRun {
    pub plant: String,
    pub name: String,
    pub store: PathBuf,
    pub summary: String,
}

/// The collector config of a plant whose meters serve Modbus TCP on `port`: the built-in profile
/// for each meter the simulator can play (electricity and water), one unit id each.
fn modbus_config(fleet: &Fleet, plant: &Plant, data_dir: &Path, port: u16) -> (String, Vec<DeviceSpec>) {
    const AREA_PROFILES: [&str; 3] = ["chint_dtsu666", "schneider_iem3000", "acrel_adw300"];
    let mut text = gateway_header(plant, data_dir);
    let mut specs = Vec::new();
    let mut area = 0;
    for (m, rate) in fleet.meters_of(plant) {
        let profile = match (m.medium, m.role) {
            (Medium::Electricity, Role::Boundary) => "eastron_sdm630",
            (Medium::Electricity, Role::Area) => {
                area += 1;
                AREA_PROFILES[(area - 1) % AREA_PROFILES.len()]
            }
            (Medium::Water, Role::Boundary) => "tuf2000m",
            // No built-in profile for a coal belt scale or a water sub-meter: not played live.
            _ => continue,
        };
        let unit = specs.len() as u8 + 1;
        // The kiln line's meter refuses now and then, so the summary shows failures counted.
        let faults = if m.name.as_str() == "kiln-line" { ",exceptions=0.1" } else { "" };
        match format!("{unit}={profile}:rated={rate:.0}{faults}").parse::<DeviceSpec>() {
            Ok(spec) => specs.push(spec),
            Err(e) => tracing::warn!("{}: {e}", m.name),
        }
        text.push_str(&format!(
            "\n[[modbus.devices]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {port}\nunit = {unit}\nprofile = \"{profile}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            m.name
        ));
    }
    (text, specs)
}

/// The collector config of a plant whose sub-circuits have Shelly-style MQTT meters.
fn mqtt_config(plant: &Plant, data_dir: &Path, broker: &Broker) -> String {
    let mut text = gateway_header(plant, data_dir);
    text.push_str(&format!(
        "\n[mqtt]\nhost = \"{}\"\nport = {}\nclient_id = \"demo-{}\"\n\n\
         [[mqtt.subscriptions]]\ntopic = \"shellies/+/status\"\nmeter = \"shelly-{{1}}\"\nformat = \"json\"\n\
         time = {{ path = \"unixtime\", format = \"epoch_s\" }}\n\
         [[mqtt.subscriptions.fields]]\npath = \"aenergy.total\"\nquantity = \"active_energy_import\"\nmedium = \"electricity\"\nkind = \"counter\"\nunit = \"Wh\"\n\
         [[mqtt.subscriptions.fields]]\npath = \"apower\"\nquantity = \"active_power\"\nmedium = \"electricity\"\nkind = \"gauge\"\nunit = \"W\"\n",
        broker.addr.ip(),
        broker.addr.port(),
        plant.id
    ));
    text
}

fn gateway_header(plant: &Plant, data_dir: &Path) -> String {
    format!(
        "# Written by the demo for {}.\n[gateway]\nenterprise = \"{}\"\nsite = \"{}\"\n\n# Simulated meters on this machine: its clock is the meters' clock.\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = {:?}\n\n[sinks.parquet]\nmax_age = \"5s\"\n",
        plant.name,
        plant.id,
        meter_sim::fleet::SITE,
        data_dir.display().to_string()
    )
}

/// Runs every live gateway for `seconds`, printing progress every 5 s; `broker` is needed only
/// if a plant is live over MQTT.
pub async fn run(fleet: &Fleet, gateways_dir: &Path, seconds: u64, broker: Option<&Broker>) -> anyhow::Result<Vec<GatewayRun>> {
    let mut running = Vec::new();
    for plant in fleet.plant.iter().filter(|p| p.live.is_some()) {
        let data_dir = gateways_dir.join(plant.id.to_string());
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = std::fs::canonicalize(&data_dir)?;
        let text = match plant.live {
            Some(Live::Modbus) => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port for the simulated meters")?;
                let port = listener.local_addr()?.port();
                let (text, specs) = modbus_config(fleet, plant, &data_dir, port);
                let sim = Arc::new(Simulator::new(&specs, 2026, None, None).map_err(anyhow::Error::msg)?);
                tokio::spawn(meter_sim::serve(listener, sim, 0.0));
                println!("  {} ({}): {} Modbus TCP meters on 127.0.0.1:{port}", plant.name, plant.id, specs.len());
                text
            }
            Some(Live::Mqtt) => {
                let broker = broker.context("an MQTT plant needs a broker")?;
                let (host, port) = (broker.addr.ip().to_string(), broker.addr.port());
                tokio::spawn(async move {
                    if let Err(e) = meter_sim::mqtt::publish(&host, port, meter_sim::fleet::LIVE_MQTT_METERS, Duration::from_secs(1), meter_sim::mqtt::Style::Shelly, 7, None).await {
                        tracing::error!(error = %e, "the simulated MQTT meters stopped");
                    }
                });
                println!("  {} ({}): {} MQTT meters publishing through the {} broker on {}", plant.name, plant.id, meter_sim::fleet::LIVE_MQTT_METERS, broker.kind, broker.addr);
                mqtt_config(plant, &data_dir, broker)
            }
            None => continue,
        };
        let config_path = data_dir.join("collector.toml");
        std::fs::write(&config_path, &text).with_context(|| format!("writing {}", config_path.display()))?;
        let config = Config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let store = config.store_dir();
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(collector::run::run(config, Arc::clone(&stats), tokio::time::sleep(Duration::from_secs(seconds))));
        running.push((plant, store, stats, task));
    }

    let mut progress = tokio::time::interval(Duration::from_secs(5));
    progress.tick().await;
    for elapsed in (5..seconds).step_by(5) {
        progress.tick().await;
        let parts: Vec<String> = running
            .iter()
            .map(|(plant, _, stats, _)| {
                let s = stats.snapshot();
                let good: u64 = s.devices.values().map(|c| c.readings_good).sum::<u64>() + s.mqtt.as_ref().map_or(0, |m| m.readings);
                let failed: u64 = s.devices.values().map(|c| c.request_failures).sum();
                let stored: u64 = s.sinks.values().map(|c| c.readings).sum();
                format!("{}: {good} read, {failed} failed requests, {stored} stored", plant.name)
            })
            .collect();
        println!("  {elapsed:>3}/{seconds} s  {}", parts.join(" | "));
    }
    let mut out = Vec::new();
    for (plant, store, _, task) in running {
        let summary = task.await.context("a collector task")??;
        out.push(GatewayRun { plant: plant.id.to_string(), name: plant.name.clone(), store, summary: summary.to_string() });
    }
    Ok(out)
}

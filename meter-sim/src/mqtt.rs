//! Simulated MQTT meters: electricity meters that publish their energy counter and power as JSON,
//! in one of two real-world styles, at a chosen interval, with QoS 1.

use std::time::Duration;

use chrono::Utc;
use collector::modbus::profile::Profile;
use rumqttc::{AsyncClient, MqttOptions, QoS};

use crate::model::Meter;

/// The payload style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    /// `plant/sim/meters/m<i>/state`: `{"ts": ms, "energy": {"import_wh": Wh}, "power": [W, W, W]}`
    Nested,
    /// `shellies/m<i>/status`: `{"unixtime": s, "aenergy": {"total": Wh}, "apower": W}` (Shelly Gen2 style)
    Shelly,
}

/// The topic and payload of meter `i`'s message at `now`.
pub fn message(style: Style, i: usize, meter: &Meter, energy: usize, power: usize, now: chrono::DateTime<Utc>) -> (String, String) {
    let wh = meter.canonical_value(energy, now) * 1000.0;
    let w = meter.canonical_value(power, now) * 1000.0;
    match style {
        Style::Nested => (
            format!("plant/sim/meters/m{i}/state"),
            serde_json::json!({"ts": now.timestamp_millis(), "energy": {"import_wh": wh.round()}, "power": [w / 3.0, w / 3.0, w / 3.0]}).to_string(),
        ),
        Style::Shelly => (
            format!("shellies/m{i}/status"),
            serde_json::json!({"unixtime": now.timestamp(), "aenergy": {"total": (wh * 1000.0).round() / 1000.0}, "apower": (w * 10.0).round() / 10.0}).to_string(),
        ),
    }
}

/// Publishes `meters` meters every `interval` to the broker at `host:port` until `count` rounds
/// are done (or forever if `None`); returns the number of messages published.
pub async fn publish(host: &str, port: u16, meters: usize, interval: Duration, style: Style, seed: u64, count: Option<u64>) -> anyhow::Result<u64> {
    let profile = Profile::builtin("eastron_sdm630").ok_or_else(|| anyhow::anyhow!("no eastron_sdm630 profile"))?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let find = |name: &str| profile.map.points.iter().position(|p| p.name == name).ok_or_else(|| anyhow::anyhow!("no point {name}"));
    let (energy, power) = (find("active_energy_import")?, find("active_power")?);
    let start = Utc::now();
    let fleet: Vec<Meter> = (0..meters).map(|i| Meter::new((i % 247 + 1) as u8, profile.clone(), seed + i as u64, start, None, false, false)).collect();

    let mut options = MqttOptions::new(format!("meter-sim-{}", std::process::id()), host, port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 1000);
    let driver = tokio::spawn(async move {
        loop {
            if let Err(e) = events.poll().await {
                tracing::warn!(error = %e, "MQTT connection failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let mut ticker = tokio::time::interval(interval);
    let mut published = 0u64;
    let mut round = 0u64;
    while count.is_none_or(|c| round < c) {
        ticker.tick().await;
        let now = Utc::now();
        for (i, meter) in fleet.iter().enumerate() {
            let (topic, payload) = message(style, i, meter, energy, power, now);
            client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
            published += 1;
        }
        round += 1;
    }
    // Let the event loop send what is queued before leaving.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = client.disconnect().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    driver.abort();
    Ok(published)
}

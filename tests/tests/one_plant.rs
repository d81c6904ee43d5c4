//! One plant, one config file, every field protocol: a Modbus TCP meter, two meters on an RS-485
//! line (a socat pseudo-terminal pair), and MQTT meters through a real Mosquitto broker.

use std::process::Command;
use std::time::Duration;

use e2e::{bin, device, free_port, run_collector, serial_device, stored_readings, summary_row, write_config, SerialPair, Server, Sim};
use readings::Quality;

#[test]
fn modbus_tcp_rtu_and_mqtt_meters_run_from_one_config() {
    let broker = Server::mosquitto(free_port());
    let tcp = Sim::start(&["--device", "1=eastron_sdm630"]);
    let line = SerialPair::start();
    let _rtu = Sim::start_serial(&line.b, &["--baud", "19200", "--parity", "none", "--device", "1=tuf2000m", "--device", "2=acrel_adw300"]);

    let dir = tempfile::tempdir().unwrap();
    let entries = [
        device("incomer", tcp.port(), 1, "eastron_sdm630", "1s", ""),
        format!("[[modbus.serial_lines]]\nname = \"rs485-1\"\ndevice = \"{}\"\nbaud = 19200\nparity = \"none\"\n", line.a.display()),
        serial_device("water-main", "rs485-1", 1, "tuf2000m", "1s", "timeout = \"300ms\""),
        serial_device("workshop", "rs485-1", 2, "acrel_adw300", "1s", "timeout = \"300ms\""),
        format!(
            "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nclient_id = \"one-plant\"\n\n[[mqtt.subscriptions]]\ntopic = \"plant/+/meters/+/state\"\nmeter = \"{{2}}\"\nformat = \"json\"\ntime = {{ path = \"ts\", format = \"epoch_ms\" }}\n[[mqtt.subscriptions.fields]]\npath = \"energy.import_wh\"\nquantity = \"active_energy_import\"\nmedium = \"electricity\"\nkind = \"counter\"\nunit = \"Wh\"\n",
            broker.port
        ),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &entries);
    let collector = std::thread::spawn(move || run_collector(&config, "6s"));
    std::thread::sleep(Duration::from_millis(1500));
    let published = Command::new(bin("meter-sim"))
        .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--mqtt-meters", "3", "--mqtt-interval", "500ms", "--mqtt-rounds", "4"])
        .output()
        .unwrap();
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
    let out = collector.join().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");

    let stored = stored_readings(dir.path());
    let good = |meter: &str| stored.iter().filter(|r| r.meter.as_str() == meter && r.quality == Quality::Good && r.value.is_some()).count();
    for meter in ["incomer", "water-main", "workshop"] {
        assert!(good(meter) > 0, "{meter}: nothing stored");
        assert_eq!(summary_row(&stdout, meter).last().map(String::as_str), Some("-"), "{stdout}");
    }
    for meter in ["m0", "m1", "m2"] {
        assert_eq!(good(meter), 4, "{meter}: one reading per published round");
    }
    assert!(stdout.contains("mqtt: 12 messages, 12 readings, 0 dead-lettered"), "{stdout}");
    assert!(stdout.contains(" 0 undelivered"), "{stdout}");
}

#!/usr/bin/python3
"""Polls Modbus TCP meters with pymodbus and publishes their values over MQTT.

What a competent user would write with Debian 12's packages (python3-pymodbus 3.0.0,
python3-paho-mqtt 1.6.1): asyncio, one AsyncModbusTcpClient (one connection) per device, all
devices polled concurrently on wall-clock slots (multiples of interval_ms since the epoch), the
requests of a device one after another on its connection, each answer decoded per point, and one
MQTT message per device per cycle, QoS 1, to `<topic>/<device>`:

    {"device": "m000", "ts": 1732350000000, "values": {"voltage_l1": 230.1, ...}}

`ts` is the slot's wall-clock time in ms. A cycle that yielded no value publishes nothing;
non-finite values (NaN, inf) are left out, since JSON has no spelling for them.

Errors (Modbus exception answers, short answers, timeouts, lost or refused connections) are
counted and logged to stderr (once per device until it recovers); after a timeout or a connection
error the connection is dropped and a new one made at the next slot. Slots missed because a
device's cycle overran are skipped, not caught up.

Run with Debian's interpreter:

    /usr/bin/python3 poll_pymodbus.py devices.json

On SIGTERM or SIGINT it stops polling, waits up to 5 s for the broker to acknowledge what was
published, and prints exactly one line to stdout, then exits 0:

    readings N requests R errors E

N: values published (summed over the messages handed to the MQTT client); R: Modbus requests
sent; E: failed requests plus failed connection attempts.
"""

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt
from pymodbus.client import AsyncModbusTcpClient

log = logging.getLogger("poll_pymodbus")

# type -> (registers, struct format of the big-endian value)
TYPES = {
    "u16": (1, ">H"),
    "i16": (1, ">h"),
    "u32": (2, ">I"),
    "i32": (2, ">i"),
    "u64": (4, ">Q"),
    "i64": (4, ">q"),
    "f32": (2, ">f"),
    "f64": (4, ">d"),
}
# order -> (words swapped, bytes within each word swapped); ABCD is the big-endian value as sent.
ORDERS = {
    "ABCD": (False, False),
    "CDAB": (True, False),
    "BADC": (False, True),
    "DCBA": (True, True),
}


def make_decoder(point):
    """Returns (name, decode(registers of the whole answer) -> value) for one point."""
    words, fmt = TYPES[point["type"]]
    words_swapped, bytes_swapped = ORDERS[point.get("order", "ABCD")]
    offset = int(point["offset"])
    scale = float(point.get("scale", 1.0))
    unpack = struct.Struct(fmt).unpack
    word_fmt = "<" if bytes_swapped else ">"
    pack_words = struct.Struct(f"{word_fmt}{words}H").pack

    def decode(registers):
        regs = registers[offset:offset + words]
        if words_swapped:
            regs = regs[::-1]
        return unpack(pack_words(*regs))[0] * scale

    return point["name"], decode


class Client(AsyncModbusTcpClient):
    """pymodbus 3.0.0's async client reconnects by itself in the background after every lost or
    failed connection, with a delay that doubles and is never reset (and with reconnect_delay=0
    it retries in a tight loop). We reconnect ourselves, at the next slot, so that is turned off."""

    async def _reconnect(self):
        return None


class Stats:
    def __init__(self):
        self.readings = 0
        self.requests = 0
        self.errors = 0


class Device:
    def __init__(self, spec, interval, timeout, stats, publish):
        self.name = spec["name"]
        self.host = spec["host"]
        self.port = int(spec["port"])
        self.unit = int(spec.get("unit", 1))
        self.requests = []
        for req in spec["requests"]:
            function = req["function"]
            if function not in ("input", "holding"):
                raise ValueError(f"{self.name}: unknown function {function!r}")
            decoders = [make_decoder(p) for p in req["points"]]
            self.requests.append((function == "input", int(req["address"]), int(req["count"]), decoders))
        self.interval = interval
        self.timeout = timeout
        self.stats = stats
        self.publish = publish
        self.client = None
        self.failing = False

    def _error(self, what):
        self.stats.errors += 1
        if not self.failing:
            log.warning("%s (%s:%d unit %d): %s", self.name, self.host, self.port, self.unit, what)
            self.failing = True

    async def _disconnect(self):
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                pass

    async def _connect(self):
        client = Client(self.host, port=self.port)
        try:
            await asyncio.wait_for(client.connect(), self.timeout)
        except (asyncio.TimeoutError, OSError) as exc:
            await client.close()
            self._error(f"connect: {exc!r}")
            return False
        if not client.connected:  # pymodbus logs and swallows the reason
            await client.close()
            self._error("connect: refused or unreachable")
            return False
        self.client = client
        return True

    async def poll(self, ts_ms):
        if self.client is None or not self.client.connected:
            await self._disconnect()
            if not await self._connect():
                return
        values = {}
        ok = True
        for is_input, address, count, decoders in self.requests:
            client = self.client
            read = client.read_input_registers if is_input else client.read_holding_registers
            self.stats.requests += 1
            try:
                rr = await asyncio.wait_for(read(address, count, slave=self.unit), self.timeout)
            except asyncio.TimeoutError:
                self._error(f"timeout reading {count} at {address}")
                await self._disconnect()  # a late answer would arrive on this connection
                ok = False
                break
            except Exception as exc:  # ConnectionException, ModbusIOException, OSError, ...
                self._error(f"reading {count} at {address}: {exc!r}")
                await self._disconnect()
                ok = False
                break
            if rr.isError():
                self._error(f"reading {count} at {address}: {rr}")
                ok = False
                continue
            regs = rr.registers
            if len(regs) < count:
                self._error(f"reading {count} at {address}: {len(regs)} registers in the answer")
                ok = False
                continue
            for name, decode in decoders:
                value = decode(regs)
                if math.isfinite(value):
                    values[name] = value
        if ok and self.failing:
            log.warning("%s: back", self.name)
            self.failing = False
        if values:
            self.publish(self.name, ts_ms, values)

    async def run(self):
        interval = self.interval
        slot = (math.floor(time.time() / interval) + 1) * interval
        try:
            while True:
                delay = slot - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    await self.poll(int(round(slot * 1000)))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug in a decoder or the like: count it, keep going
                    self._error(f"unexpected: {exc!r}")
                # Next slot; if this cycle overran, skip the slots already gone.
                slot = max(slot + interval, (math.floor(time.time() / interval) + 1) * interval)
        finally:
            await self._disconnect()


class Publisher:
    """paho-mqtt in its own network thread; publish() is called from the asyncio thread."""

    def __init__(self, host, port, topic, stats):
        self.topic = topic.rstrip("/")
        self.stats = stats
        # paho calls on_publish holding its own lock, which publish() takes too: never call paho
        # while holding ours.
        self.lock = threading.Lock()
        self.published = 0
        self.acked = 0
        self.client = mqtt.Client(client_id=f"poll-pymodbus-{os.getpid()}", clean_session=True)
        self.client.max_queued_messages_set(0)  # unlimited: keep messages while the broker is away
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            log.info("mqtt: connected")
        else:
            log.warning("mqtt: connection refused: %s", mqtt.connack_string(rc))

    def _on_disconnect(self, client, userdata, rc):
        if rc != 0:
            log.warning("mqtt: disconnected (%s), reconnecting", mqtt.error_string(rc))

    def _on_publish(self, client, userdata, mid):
        with self.lock:
            self.acked += 1

    def publish(self, device, ts_ms, values):
        payload = json.dumps({"device": device, "ts": ts_ms, "values": values}, separators=(",", ":"))
        info = self.client.publish(f"{self.topic}/{device}", payload, qos=1)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: queued, sent on reconnect
            with self.lock:
                self.published += 1
            self.stats.readings += len(values)
        else:
            log.warning("mqtt: publish failed: %s", mqtt.error_string(info.rc))

    def close(self, grace):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self.lock:
                if self.acked >= self.published:
                    break
            time.sleep(0.02)
        with self.lock:
            left = self.published - self.acked
        if left:
            log.warning("mqtt: %d messages not acknowledged at exit", left)
        self.client.disconnect()
        self.client.loop_stop()


async def main(config, timeout):
    interval = config["interval_ms"] / 1000.0
    stats = Stats()
    broker = config["mqtt"]
    publisher = Publisher(broker.get("host", "127.0.0.1"), int(broker.get("port", 1883)), broker["topic"], stats)
    devices = [Device(d, interval, timeout or interval, stats, publisher.publish) for d in config["devices"]]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    tasks = [asyncio.create_task(d.run(), name=d.name) for d in devices]
    log.info("polling %d devices every %g ms", len(devices), config["interval_ms"])
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)  # let the closed transports' callbacks run
    await loop.run_in_executor(None, publisher.close, 5.0)
    return stats


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("devices", help="devices JSON written by the benchmark")
    parser.add_argument("--timeout-ms", type=float, default=None,
                        help="timeout of a connection attempt and of a request (default: interval_ms)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections to stderr")
    args = parser.parse_args()
    # force: pymodbus 3.0.0 calls logging.basicConfig() itself when imported (constants.py).
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
    # pymodbus logs every failed connection attempt itself; our own log says it once per outage.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    with open(args.devices) as f:
        config = json.load(f)
    timeout = args.timeout_ms / 1000.0 if args.timeout_ms else None
    stats = asyncio.run(main(config, timeout))
    print(f"readings {stats.readings} requests {stats.requests} errors {stats.errors}", flush=True)
    sys.exit(0)

"""Live meter readings over MQTT (rareeco.ingest.mqtt) against the real Mosquitto broker.

The broker is ``RAREECO_TEST_MQTT`` (host:port, default 127.0.0.1:1883).  Without one the broker tests skip with
a message — unless ``CI=true``, where they fail.  Each test uses its own organisation (so its own topics) and
its own client ids.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from rareeco.cli import app
from rareeco.ingest import mqtt
from rareeco.ledger import structure
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import Point, SeriesBatch
from rareeco.timeseries.store import rollup

BROKER = os.environ.get("RAREECO_TEST_MQTT", "127.0.0.1:1883")
HOST, PORT = BROKER.rsplit(":", 1)[0], int(BROKER.rsplit(":", 1)[1])
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def broker() -> str:
    """The broker's host:port, or skip (fail under CI=true) with how to enable these tests."""
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        msg = (f"MQTT broker not reachable at {BROKER} ({exc}): start Mosquitto (mosquitto -d -c "
               "/etc/mosquitto/mosquitto.conf) or set RAREECO_TEST_MQTT=host:port to run these tests")
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return BROKER


def new_org(engine: Engine, meters: tuple[str, ...] = ("M1", "M2")) -> str:
    org = f"mq{uuid.uuid4().hex[:10]}"
    with session_scope(engine) as s:
        structure.create_org(s, org)
        structure.add_site(s, org, "baotou", "CN-NM")
        for code in meters:
            structure.add_meter(s, org, "baotou", code, "electricity.grid", unit="kWh", interval_s=900)
    return org


def subscriber(engine: Engine, org: str, client_id: str, **kw: Any) -> mqtt.Subscriber:
    return mqtt.Subscriber(engine, org, host=HOST, port=PORT, client_id=client_id, flush_ms=50,
                           session_expiry_s=60, **kw)


@contextmanager
def running(sub: mqtt.Subscriber) -> Iterator[dict[str, Any]]:
    """Run ``sub`` in a thread while the block runs; the dict holds its summary afterwards."""
    result: dict[str, Any] = {}
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.update(sub.run())
        except BaseException as exc:  # noqa: BLE001 — re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert sub.ready.wait(10), "the subscriber did not subscribe"
    try:
        yield result
    finally:
        sub.stop()
        thread.join(20)
    if errors:
        raise errors[0]


def handled(sub: mqtt.Subscriber, n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while sub.stats.handled < n:
        assert time.monotonic() < deadline, f"only {sub.stats.handled} of {n} messages handled"
        time.sleep(0.02)


def stored(engine: Engine, org: str, meter: str) -> list[tuple[int, float, str | None]]:
    from rareeco.ledger.models import Meter

    with session_scope(engine) as s:
        sid = s.execute(select(Meter.series_id).where(Meter.org_id == org, Meter.code == meter)).scalar_one()
        return [tuple(r) for r in s.execute(select(Point.ts, Point.value, Point.flag)  # type: ignore[misc]
                                            .where(Point.series_id == sid).order_by(Point.ts))]


def hourly(engine: Engine, org: str, meter: str) -> list[tuple[str, float, int]]:
    from rareeco.ledger.models import Meter

    with session_scope(engine) as s:
        sid = s.execute(select(Meter.series_id).where(Meter.org_id == org, Meter.code == meter)).scalar_one()
        frame = rollup(s, [sid], "h")
    return [(str(r.start), float(r.total), int(r.n)) for r in frame.itertuples()]


def send(org: str, readings: list[tuple[str, Any, Any, str | None]], **kw: Any) -> int:
    return mqtt.publish(org, readings, host=HOST, port=PORT, **kw)


def send_raw(org: str, meter: str, payloads: list[bytes]) -> None:
    """Publish payloads as they are (malformed ones too), QoS 1, waiting for the broker's acknowledgements."""
    import paho.mqtt.client as paho

    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.connect(HOST, PORT)
    c.loop_start()
    infos = [c.publish(f"rareeco/{org}/meters/{meter}", p, qos=1) for p in payloads]
    for i in infos:
        i.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


# ---------------------------------------------------------------- payloads (no broker)

def test_payload_times_in_the_org_zone_epoch_and_offsets() -> None:
    parse = mqtt.epoch_parser("Asia/Shanghai")
    readings, problems = mqtt.parse_payload(
        b'{"readings": [{"ts": "2025-06-01T08:00:00", "value": 1}, {"ts": "2025-06-01T00:15:00Z", "value": 2.5},'
        b' {"ts": 1748736900, "value": 3, "flag": "E"}, {"ts": 1748737800.9, "value": 4}]}', parse)
    assert problems == []
    # 08:00 in Shanghai (UTC+8) is 00:00 UTC = 1748736000
    assert readings == [(1748736000, 1.0, None), (1748736900, 2.5, None), (1748736900, 3.0, "E"),
                        (1748737800, 4.0, None)]


def test_payload_problems_name_the_reading_and_keep_the_good_ones() -> None:
    parse = mqtt.epoch_parser("Asia/Shanghai")
    readings, problems = mqtt.parse_payload(
        b'{"readings": [{"ts": "2025-06-01T08:00:00", "value": NaN}, {"ts": "yesterday", "value": 1},'
        b' {"ts": "2025-06-01T08:15:00", "value": true}, {"ts": "2025-06-01T08:30:00", "value": "7"},'
        b' {"ts": "2025-06-01T08:45:00", "value": 5, "flag": "TOOLONG"}, {"value": 1},'
        b' {"ts": "2025-06-01T09:00:00", "value": 6}]}', parse)
    assert readings == [(1748739600, 6.0, None)]
    assert [(c, r.split(":")[0]) for c, r, _fix in problems] == [
        ("bad_value", "reading 0"), ("bad_timestamp", "reading 1"), ("bad_value", "reading 2"),
        ("bad_value", "reading 3"), ("bad_flag", "reading 4"), ("bad_payload", "reading 5")]
    assert mqtt.parse_payload(b"\xff{", parse)[1][0][0] == "bad_json"
    assert mqtt.parse_payload(b'{"readings": 5}', parse)[1][0][0] == "bad_payload"


def test_local_time_made_ambiguous_by_daylight_saving_is_refused_not_guessed() -> None:
    parse = mqtt.epoch_parser("Europe/Berlin")
    _r, problems = mqtt.parse_payload(b'{"ts": "2025-10-26T02:30:00", "value": 1}', parse)
    assert problems[0][0] == "bad_timestamp" and "ambiguous" in problems[0][1]
    assert mqtt.parse_payload(b'{"ts": "2025-10-26T02:30:00+01:00", "value": 1}', parse)[0] == \
        [(1761442200, 1.0, None)]


def test_topics_refuse_wildcards_and_levels() -> None:
    assert mqtt.meter_topic("acme", "BT-EL-MAIN") == "rareeco/acme/meters/BT-EL-MAIN"
    for org, meter in (("a/b", "m"), ("acme", "m+"), ("acme", "#"), ("acme", "")):
        with pytest.raises(mqtt.ValidationFailed):
            mqtt.meter_topic(org, meter)


# ---------------------------------------------------------------- against the broker

@pytest.mark.parametrize("tuned_io", [True, False], ids=["tuned-io", "paho-io"])
def test_readings_are_stored_with_their_values_and_rolled_up(broker: str, sqlite_engine: Engine,
                                                             tuned_io: bool) -> None:
    """Also with paho's own socket I/O, on_message and ack() (the fallback of the tuned client)."""
    org = new_org(sqlite_engine)
    sub = subscriber(sqlite_engine, org, f"t-{org}", tuned_io=tuned_io)
    with running(sub) as result:
        n = send(org, [("M1", "2025-06-01T08:00:00", 1.5, None), ("M1", "2025-06-01T08:15:00+08:00", 2.25, "E"),
                       ("M1", "2025-06-01T08:30:00", 3.0, None), ("M2", 1748739600, 10.0, None),
                       ("M2", "2025-06-01T09:15:00", 20.0, None)], per_message=2)
        assert n == 3  # M1: two, then one; M2: one batch of two
        handled(sub, 3)
    assert stored(sqlite_engine, org, "M1") == [(1748736000, 1.5, None), (1748736900, 2.25, "E"),
                                                (1748737800, 3.0, None)]
    assert stored(sqlite_engine, org, "M2") == [(1748739600, 10.0, None), (1748740500, 20.0, None)]
    # hours of local time (Asia/Shanghai)
    assert hourly(sqlite_engine, org, "M1") == [("2025-06-01 08:00:00", 6.75, 3)]
    assert hourly(sqlite_engine, org, "M2") == [("2025-06-01 09:00:00", 30.0, 2)]
    assert result["stored"] == 5 and result["malformed"] == 0 and result["session_present"] is False
    with session_scope(sqlite_engine) as s:
        batch = s.get(SeriesBatch, result["batch"])
        assert batch is not None
        assert (batch.source, batch.points_stored) == (f"mqtt://{HOST}:{PORT}/rareeco/{org}/meters/+", 5)


def test_redelivered_messages_are_not_counted_twice(broker: str, sqlite_engine: Engine) -> None:
    """The first run stores but never acknowledges (as if it died after the commit); the broker delivers the
    messages again to the next run of the same client id, whose store drops them as duplicates."""
    org = new_org(sqlite_engine)
    first = subscriber(sqlite_engine, org, f"t-{org}")
    first._client.ack_many = lambda mids: None  # type: ignore[method-assign]
    readings = [("M1", f"2025-06-01T08:{m:02d}:00", float(m), None) for m in (0, 15, 30, 45)]
    with running(first):
        send(org, readings)
        handled(first, 4)
    # a repeat published on purpose is a duplicate too
    send(org, readings[:1])
    second = subscriber(sqlite_engine, org, f"t-{org}")
    with running(second) as result:
        handled(second, 5)
    assert result["session_present"] is True
    assert result["received"] == 5 and result["stored"] == 0 and result["duplicates"] == 5
    assert [v for _t, v, _f in stored(sqlite_engine, org, "M1")] == [0.0, 15.0, 30.0, 45.0]
    assert hourly(sqlite_engine, org, "M1") == [("2025-06-01 08:00:00", 90.0, 4)]
    assert {"code": "duplicate", "count": 5, "message": "5 in all"} in result["findings"]


def test_a_connection_lost_before_the_commit_loses_nothing_and_counts_nothing_twice(broker: str,
                                                                                   sqlite_engine: Engine) -> None:
    """Messages received but not yet committed when the connection drops are not acknowledged; the broker
    sends them again on the resumed session (acknowledgements of the old connection are never sent on the new)."""
    org = new_org(sqlite_engine)
    sub = subscriber(sqlite_engine, org, f"t-{org}")
    sub.flush_s = 30.0  # nothing is committed before the drop
    with running(sub) as result:
        send(org, [("M1", 1748736000 + 900 * k, 1.0, None) for k in range(100)])
        deadline = time.monotonic() + 10
        while sub.stats.received < 100:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert sub.stats.handled == 0
        sub._client._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        sub.flush_s = 0.05
        sub._wake.set()
        send(org, [("M1", 1748736000 + 900 * k, 1.0, None) for k in range(100, 150)])
        handled(sub, 250)
    assert (result["received"], result["stored"], result["duplicates"], result["reconnects"]) == (250, 150, 100, 1)
    assert hourly(sqlite_engine, org, "M1")[0] == ("2025-06-01 08:00:00", 4.0, 4)
    assert sum(n for _s, _t, n in hourly(sqlite_engine, org, "M1")) == 150


def test_out_of_order_readings_are_filed_in_place_with_a_late_finding(broker: str, sqlite_engine: Engine) -> None:
    org = new_org(sqlite_engine)
    sub = subscriber(sqlite_engine, org, f"t-{org}")
    with running(sub) as result:
        send(org, [("M1", "2025-06-01T08:00:00", 1.0, None), ("M1", "2025-06-01T08:45:00", 4.0, None)])
        handled(sub, 2)
        send(org, [("M1", "2025-06-01T08:15:00", 2.0, None), ("M1", "2025-06-01T08:30:00", 3.0, None)],
             per_message=2)
        handled(sub, 3)
    assert [v for _t, v, _f in stored(sqlite_engine, org, "M1")] == [1.0, 2.0, 3.0, 4.0]
    assert hourly(sqlite_engine, org, "M1") == [("2025-06-01 08:00:00", 10.0, 4)]
    assert result["late"] == 2
    late = [f for f in result["findings"] if f["code"] == "late" and "series_id" in f]
    assert late and late[0]["first"] == "2025-06-01T08:15:00+08:00"
    gap = [f for f in result["findings"] if f["code"] == "gap" and "series_id" in f]
    assert gap and gap[0]["start"] == "2025-06-01T08:15:00+08:00"  # reported when 08:45 came after 08:00


def test_a_live_spike_is_judged_against_the_meters_recent_readings(broker: str, sqlite_engine: Engine) -> None:
    """One reading per batch (live) cannot be judged by the batch's own median: the meter's last readings judge it."""
    org = new_org(sqlite_engine)
    sub = subscriber(sqlite_engine, org, f"t-{org}")
    with running(sub) as result:
        send(org, [("M1", 1748736000 + 900 * k, 10.0 + 0.1 * (k % 3), None) for k in range(12)])
        handled(sub, 12)
        send(org, [("M1", 1748736000 + 900 * 12, 10.2, None)])  # normal
        handled(sub, 13)
        send(org, [("M1", 1748736000 + 900 * 13, 100.0, None)])  # a register slip
        handled(sub, 14)
    spikes = [f for f in result["findings"] if f["code"] == "spike" and "series_id" in f]
    assert [(f["ts"], f["value"]) for f in spikes] == [("2025-06-01T11:15:00+08:00", 100.0)]
    assert "against a median of 10.1 over its 12 previous readings" in spikes[0]["message"]
    assert result["stored"] == 14  # a spike is reported, not refused


def test_malformed_messages_are_findings_while_good_ones_keep_flowing(broker: str, sqlite_engine: Engine) -> None:
    org = new_org(sqlite_engine)
    sub = subscriber(sqlite_engine, org, f"t-{org}")
    with running(sub) as result:
        send_raw(org, "M1", [b'{"ts": "2025-06-01T08:00:00", "value": 1}', b"not json",
                             b'{"ts": "2025-06-01T08:15:00", "value": NaN}', b'{"ts": "soon", "value": 2}',
                             b'{"ts": "2025-06-01T08:30:00", "value": 3}'])
        send_raw(org, "NOPE", [b'{"ts": "2025-06-01T08:00:00", "value": 1}'])
        send_raw(org, "M1", [b'{"ts": "2025-06-01T08:45:00", "value": 4}'])
        handled(sub, 7)
    assert [v for _t, v, _f in stored(sqlite_engine, org, "M1")] == [1.0, 3.0, 4.0]
    assert result["malformed"] == 4 and result["stored"] == 3
    listed = {f["code"]: f for f in result["findings"] if "topic" in f}
    assert set(listed) == {"bad_json", "bad_value", "bad_timestamp", "unknown_meter"}
    assert listed["bad_json"]["payload"] == "not json"
    assert listed["unknown_meter"]["topic"] == f"rareeco/{org}/meters/NOPE"
    assert "rareeco meter add" in listed["unknown_meter"]["fix"]
    assert "not a finite number" in listed["bad_value"]["reason"] and "NaN" in listed["bad_value"]["payload"]
    with session_scope(sqlite_engine) as s:
        batch = s.get(SeriesBatch, result["batch"])
        assert batch is not None and {f["code"] for f in batch.findings} >= set(listed)


def test_a_meter_added_while_running_is_picked_up(broker: str, sqlite_engine: Engine) -> None:
    org = new_org(sqlite_engine, ("M1",))
    sub = subscriber(sqlite_engine, org, f"t-{org}")
    with running(sub):
        with session_scope(sqlite_engine) as s:
            structure.add_meter(s, org, "baotou", "M9", "electricity.grid", unit="kWh")
        send(org, [("M9", "2025-06-01T08:00:00", 9.0, None)])
        handled(sub, 1)
    assert stored(sqlite_engine, org, "M9") == [(1748736000, 9.0, None)]


def test_readings_sent_while_the_subscriber_is_down_arrive_after_restart(broker: str,
                                                                         sqlite_engine: Engine) -> None:
    org = new_org(sqlite_engine)
    sub = subscriber(sqlite_engine, org, f"t-{org}")
    with running(sub):
        pass  # the broker now holds a session with the subscription
    send(org, [("M1", f"2025-06-01T08:{m:02d}:00", 1.0, None) for m in (0, 15, 30, 45)] +
         [("M2", "2025-06-01T08:00:00", 2.0, None)])
    again = subscriber(sqlite_engine, org, f"t-{org}")
    with running(again) as result:
        handled(again, 5)
    assert result["session_present"] is True and result["stored"] == 5
    assert hourly(sqlite_engine, org, "M1") == [("2025-06-01 08:00:00", 4.0, 4)]


def test_end_stamped_readings_are_filed_at_the_interval_start(broker: str, sqlite_engine: Engine) -> None:
    org = new_org(sqlite_engine)
    sub = subscriber(sqlite_engine, org, f"t-{org}", stamp="end")
    with running(sub):
        send(org, [("M1", "2025-06-01T08:15:00", 1.0, None)])
        handled(sub, 1)
    assert stored(sqlite_engine, org, "M1") == [(1748736000, 1.0, None)]


def test_cli_publish_then_subscribe_with_count(broker: str, tmp_path: Path) -> None:
    """``meter mqtt --seconds 0`` leaves a session; ``meter publish`` sends a CSV; ``meter mqtt --count`` stores it."""
    runner = CliRunner()
    db = ["--db", f"sqlite:///{tmp_path / 'ledger.db'}"]
    org = f"mq{uuid.uuid4().hex[:10]}"
    for cmd in (["org", "create", org], ["site", "add", org, "baotou", "--province", "CN-NM"],
                ["meter", "add", org, "baotou", "EL1", "--carrier", "electricity.grid", "--unit", "kWh"],
                ["meter", "add", org, "baotou", "EL2", "--carrier", "electricity.grid", "--unit", "kWh"]):
        r = runner.invoke(app, db + cmd)
        assert r.exit_code == 0, r.output
    conn = ["--host", HOST, "--port", str(PORT), "--client-id", f"cli-{org}", "--session-expiry-s", "60"]
    r = runner.invoke(app, db + ["meter", "mqtt", org, *conn, "--seconds", "0", "--json"])
    assert r.exit_code == 0, r.output
    csv = tmp_path / "wide.csv"
    csv.write_text("timestamp,EL1,EL2\n2025-06-01T08:00:00,1.5,2\n2025-06-01T08:15:00,,3\n"
                   "2025-06-01T08:30:00,x,4\n")
    r = runner.invoke(app, db + ["meter", "publish", org, str(csv), "--host", HOST, "--port", str(PORT)])
    assert r.exit_code == 0, r.output
    assert "5 readings published in 5 messages" in r.output
    r = runner.invoke(app, db + ["meter", "mqtt", org, *conn, "--count", "5", "--seconds", "20", "--json"])
    assert r.exit_code == 0, r.output
    import json

    out = json.loads(r.stdout)
    assert (out["handled"], out["stored"], out["malformed"]) == (5, 4, 1)
    assert [f["code"] for f in out["findings"] if "topic" in f] == ["bad_value"]


def test_cli_says_how_to_start_an_absent_broker(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    runner = CliRunner()
    db = ["--db", f"sqlite:///{tmp_path / 'ledger.db'}"]
    runner.invoke(app, db + ["org", "create", "acme"])
    r = runner.invoke(app, db + ["meter", "mqtt", "acme", "--port", str(port), "--seconds", "0"])
    assert r.exit_code != 0
    assert isinstance(r.exception, mqtt.BrokerError) and "mosquitto" in (r.exception.fix or "")

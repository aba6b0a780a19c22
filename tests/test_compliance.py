"""From a data logger to compliance: profile uploads through a real gateway, processing into CEMS series, hourly
and daily averages by the rules, quantities, exceedance events with acknowledgement and the webhook.

Every figure is worked by hand from constant channels (spread 0): SO2 50 mg/m3, O2 15 %, flow 10 m3/s.
At the reference O2 of 18 %: 50 × (21 − 18) / (21 − 15) = 25 mg/m3; rate 50 mg/m3 × 36,000 m3/h × 1e-6 = 1.8 kg/h.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from conftest import make_org
from rareeco.errors import ValidationFailed
from rareeco.ingest import hj212
from rareeco.ingest.hj212_gateway import Gateway, GatewayOptions, add_station
from rareeco.ingest.hj212_profile import Channel, Episode, Stack, frames, replay
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import ComplianceEvent, Hj212Frame, Point, WebhookDelivery
from rareeco.monitoring import compliance, outlets, processing

MN, PW = "STACKDA001", "654321"
DAY = datetime(2025, 12, 1)
STACK = Stack(MN, PW, (Channel("a21026", 50.0, 0.0, 1), Channel("a19001", 15.0, 0.0, 1),
                       Channel("a00000", 10.0, 0.0, 2)),
              (Episode("maintenance", datetime(2025, 12, 1, 2), datetime(2025, 12, 1, 2, 30)),
               Episode("upset", datetime(2025, 12, 1, 5), datetime(2025, 12, 1, 7), 5.0, ("a21026",)),
               Episode("silent", datetime(2025, 12, 1, 9), datetime(2025, 12, 1, 10))))
SETTINGS: dict[str, Any] = {
    "validity": {"hour_min_valid_fraction": 0.75, "day_min_valid_hours": 20},
    "webhook": {"url": None, "secret_env": "RAREECO_TEST_WEBHOOK_SECRET"},
    "outlets": [{"code": "DA001", "name": "Roasting kiln stack", "name_zh": "焙烧窑排气筒", "mn": MN,
                 "site": "baotou", "reference_o2_pct": 18, "flow": {"code": "a00000", "unit": "m3/s"},
                 "pollutants": [{"code": "a21026", "name": "SO2", "unit": "mg/m3",
                                 "limits": [{"value": 100, "period": "h", "kind": "permit", "source": "test"},
                                            {"value": 30, "period": "d", "kind": "target"}]}]}]}


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    make_org(engine)
    with session_scope(engine) as s:
        add_station(s, "acme", "baotou", MN, PW, "roasting kiln stack DA001")
        outlets.save(s, "acme", SETTINGS)
    return engine


def through_gateway(engine: Engine, uploads: dict[str, list[bytes]]) -> dict[str, int]:
    async def main() -> dict[str, int]:
        gw = Gateway(engine, "127.0.0.1", 0, GatewayOptions())
        await gw.start()
        try:
            return await replay("127.0.0.1", gw.port, uploads)
        finally:
            await gw.stop()
    return asyncio.run(main())


def test_a_day_from_the_logger_to_events(ledger: Engine) -> None:
    uploads = frames(STACK, DAY, datetime(2025, 12, 1, 12))
    assert len(uploads) == 12 * 60 - 60                     # the silent hour uploads nothing
    assert through_gateway(ledger, {MN: uploads}) == {"sent": 660, "acknowledged": 660}
    done = processing.process(ledger, "acme")
    assert (done.frames, done.messages, done.points_stored) == (660, 660, 3 * 660)
    with session_scope(ledger) as s:
        assert s.execute(select(func.count()).select_from(Hj212Frame).where(Hj212Frame.processed.is_(False))
                         ).scalar() == 0
        settings = outlets.load(s, "acme")
        hours = compliance.outlet_hours(s, "acme", settings.outlet("DA001"), DAY, datetime(2025, 12, 1, 12))
    so2 = hours.set_index("hour")
    assert so2.loc[datetime(2025, 12, 1, 0), "converted"] == pytest.approx(25.0)
    assert so2.loc[datetime(2025, 12, 1, 0), "kg_h"] == pytest.approx(1.8)
    # maintenance: 30 of 60 minutes valid < 75 % → no average
    assert so2.loc[datetime(2025, 12, 1, 2), "status"] == "invalid"
    assert so2.loc[datetime(2025, 12, 1, 2), "flags"] == "M:30"
    assert so2.loc[datetime(2025, 12, 1, 5), "converted"] == pytest.approx(125.0)
    assert so2.loc[datetime(2025, 12, 1, 9), "status"] == "missing"
    q = compliance.quantities(hours)
    # 12 h − maintenance hour − silent hour = 10 valid hours: 8 × 1.8 + 2 × 9.0 kg
    assert q.loc[0, "t"] == pytest.approx((8 * 1.8 + 2 * 9.0) / 1000)
    assert (q.loc[0, "valid_h"], q.loc[0, "missing_h"]) == (10, 2)

    with session_scope(ledger) as s:
        new = compliance.detect(s, "acme", DAY, datetime(2025, 12, 1, 12))
        assert [(e.period, e.limit_value, e.periods, e.peak) for e in new] == [("h", 100.0, 2, 125.0)]
        assert new[0].start.isoformat() == "2025-12-01T05:00:00+08:00" or \
            new[0].start.astimezone(UTC).isoformat() == "2025-11-30T21:00:00+00:00"
        assert (new[0].end - new[0].start).total_seconds() == 7200
    with session_scope(ledger) as s:
        assert compliance.detect(s, "acme", DAY, datetime(2025, 12, 1, 12)) == []   # a re-run adds nothing
        ev = compliance.events(s, "acme")[0]
        with pytest.raises(ValidationFailed, match="comment"):
            compliance.acknowledge(s, "acme", ev.id, "ops", "  ")
        compliance.acknowledge(s, "acme", ev.id, "ops", "scrubber pump tripped; restarted 07:00")
    with session_scope(ledger) as s:
        ev = compliance.events(s, "acme")[0]
        assert ev.acknowledged_by == "ops" and ev.comment.startswith("scrubber")
        with pytest.raises(ValidationFailed, match="already"):
            compliance.acknowledge(s, "acme", ev.id, "ops", "again")


def test_reprocessing_never_doubles(ledger: Engine) -> None:
    through_gateway(ledger, {MN: frames(STACK, DAY, datetime(2025, 12, 1, 1))})
    processing.process(ledger, "acme")
    with session_scope(ledger) as s:
        n = s.execute(select(func.count()).select_from(Point)).scalar()
        s.execute(update(Hj212Frame).values(processed=False))
    again = processing.process(ledger, "acme")
    assert (again.points_stored, again.duplicates) == (0, 180)
    with session_scope(ledger) as s:
        assert s.execute(select(func.count()).select_from(Point)).scalar() == n == 180


def test_split_uploads_are_merged(ledger: Engine) -> None:
    seg = next(iter(frames(STACK, DAY, datetime(2025, 12, 1, 0, 1))))
    msg = hj212.parse(seg)
    parts = hj212.split_message(msg, max_segment=200)
    assert len(parts) >= 2
    through_gateway(ledger, {MN: [hj212.frame(p) for p in parts]})
    done = processing.process(ledger, "acme")
    assert (done.frames, done.messages, done.points_stored) == (len(parts), 1, 3)


def test_a_missing_part_waits_then_is_reported(ledger: Engine) -> None:
    seg = next(iter(frames(STACK, DAY, datetime(2025, 12, 1, 0, 1))))
    parts = hj212.split_message(hj212.parse(seg), max_segment=200)
    through_gateway(ledger, {MN: [hj212.frame(parts[0])]})
    first = processing.process(ledger, "acme")
    assert (first.messages, first.waiting_parts) == (0, 1)
    later = processing.process(ledger, "acme", now=datetime(2030, 1, 1, tzinfo=UTC))
    assert later.messages == 1
    assert any(f["code"] == "incomplete_split" for f in later.findings)


def test_settings_refuse_what_they_cannot_use() -> None:
    bad = json.loads(json.dumps(SETTINGS))
    bad["outlets"][0]["pollutants"][0]["limits"][0]["value"] = None
    with pytest.raises(ValidationFailed, match=r"outlet DA001: pollutant a21026: limits\[0\]: no value"):
        outlets.parse(bad)
    bad = json.loads(json.dumps(SETTINGS))
    bad["outlets"][0]["reference_o2_pct"] = 21
    with pytest.raises(ValidationFailed, match="reference_o2_pct"):
        outlets.parse(bad)
    bad = json.loads(json.dumps(SETTINGS))
    bad["outlets"][0]["flow"]["unit"] = "Nm3/min"
    with pytest.raises(ValidationFailed, match="flow unit"):
        outlets.parse(bad)


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    fail_first = True

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Hook.fail_first:
            _Hook.fail_first = False
            self.send_response(503)
            self.end_headers()
            return
        _Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_is_signed_and_retried(ledger: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _Hook.received, _Hook.fail_first = [], True
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("RAREECO_TEST_WEBHOOK_SECRET", "s3cret")
    settings = json.loads(json.dumps(SETTINGS))
    settings["webhook"]["url"] = f"http://127.0.0.1:{server.server_port}/hook"
    with session_scope(ledger) as s:
        outlets.save(s, "acme", settings)
    through_gateway(ledger, {MN: frames(STACK, DAY, datetime(2025, 12, 1, 8))})
    processing.process(ledger, "acme")
    try:
        with session_scope(ledger) as s:
            assert len(compliance.detect(s, "acme", DAY, datetime(2025, 12, 1, 8))) == 1
        with session_scope(ledger) as s:
            assert compliance.deliver(s, "acme") == {"delivered": 0, "failed": 1}   # 503: kept for a retry
        with session_scope(ledger) as s:
            assert compliance.deliver(s, "acme") == {"delivered": 1, "failed": 0}
            d = s.execute(select(WebhookDelivery)).scalar_one()
            assert (d.status, d.attempts) == ("delivered", 2)
            ev = s.execute(select(ComplianceEvent)).scalar_one()
    finally:
        server.shutdown()
    headers, body = _Hook.received[0]
    assert headers["X-Rareeco-Signature"] == compliance.signature("s3cret", body)
    payload = json.loads(body)
    assert (payload["outlet"], payload["pollutant"], payload["peak"], payload["event_id"]) == \
        ("DA001", "a21026", 125.0, ev.id)


def test_golden_frames_through_the_gateway_are_processed(ledger: Engine) -> None:
    """The independent clients' frames (specs/hj212/golden-frames.txt): stored by the gateway, then processed
    into series at their DataTime (station clock, Asia/Shanghai) with the values they carry."""
    from test_hj212 import golden_rows

    with session_scope(ledger) as s:
        add_station(s, "acme", "ganzhou", "JLYP01_AIR01_0001", "123456")
        add_station(s, "acme", "ganzhou", "NJGDKYYC202101q0001w0001", "123456")
    uploads = {r[1].split("MN=")[1].split(";")[0]: [r[1].encode() + b"\r\n"] for r in golden_rows()
               if ";CN=2051;" in r[1] or ";CN=2011;" in r[1]}
    assert len(uploads) == 2

    async def main() -> None:
        gw = Gateway(ledger, "127.0.0.1", 0, GatewayOptions())
        await gw.start()
        try:
            for frames_ in uploads.values():   # neither asks a reply (Flag=4, no Flag): send, then wait for them
                _reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
                writer.write(frames_[0])
                await writer.drain()
                writer.close()
            for _ in range(200):
                if gw.stats["stored"] >= 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            await gw.stop()
    asyncio.run(main())
    done = processing.process(ledger, "acme")
    assert (done.frames, done.messages) == (2, 2)
    with session_scope(ledger) as s:
        def value(key: str) -> tuple[int, float, str | None]:
            from rareeco.ledger.models import Series
            sid = s.execute(select(Series.id).where(Series.key == key)).scalar_one()
            p = s.execute(select(Point).where(Point.series_id == sid)).scalar_one()
            return p.ts, p.value, p.flag
        # 2022-05-13 16:26:00 +08:00 = 08:26:00 UTC
        assert value("cems:JLYP01_AIR01_0001:a21026") == (int(datetime(2022, 5, 13, 8, 26, tzinfo=UTC).timestamp()),
                                                          6.0, "N")
        assert value("cems:NJGDKYYC202101q0001w0001:ele01:rtd")[1:] == (1.0, "N")

"""HJ 212-2017 codec (rareeco.ingest.hj212): golden frames, round trips, replies, split packets, every refusal,
station checks, a round-trip property and a fuzz test.

Frames quoted from the standard are HJ 212-2017 Appendix C (Tables C.1, C.4, C.14–C.19, C.49/C.50) with the
"…" of the printed examples left out.
"""

from __future__ import annotations

import os
import random
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rareeco.errors import RareecoError
from rareeco.ingest import hj212
from rareeco.ingest.hj212 import (
    CP,
    REASONS,
    ExeRtn,
    FrameError,
    Message,
    QnRtn,
    Reassembler,
    StationAuthError,
    check_station,
    crc,
    frame,
    parse,
)

#: specs/hj212/golden-frames.txt beside the repository (../shared/specs, as tests/spec_support.py); its four frames
#: are also copied below so the codec's tests run without it — test_golden_file_matches_the_copy keeps them equal.
GOLDEN = Path(os.environ.get("RAREECO_HJ212_GOLDEN",
                             Path(__file__).resolve().parents[2] / "shared/specs/hj212/golden-frames.txt"))
GOLDEN_COPY = [
    ("standard example CN=1062", "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
     "Flag=5;CP=&&RtdInterval=30&&1C80", "0759"),
    ("reply CN=9011", "##0094QN=20160801085857223;ST=32;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
     "CP=&&QnRtn=1&&2a80", "0095"),
    ("flash520/hj212 client CN=2051", "##0411QN=20220513162608370;ST=22;CN=2051;PW=123456;MN=JLYP01_AIR01_0001;"
     "Flag=4;CP=&&DataTime=20220513162600;a21004-Avg=4,a21004-Flag=N;a05024-Avg=63,a05024-Flag=N;a21026-Avg=6,"
     "a21026-Flag=N;a21005-Avg=0.427,a21005-Flag=N;a34004-Avg=14,a34004-Flag=N;a34002-Avg=31,a34002-Flag=N;"
     "a01007-Avg=1,a01007-Flag=N;a01008-Avg=11,a01008-Flag=N;a01001-Avg=17,a01001-Flag=N;a01002-Avg=85,"
     "a01002-Flag=N;a01006-Avg=95,a01006-Flag=N&&D641", "100A"),
    ("alltobs-hj212 README (no QN)", "##0109ST=32;CN=2011;PW=123456;MN=NJGDKYYC202101q0001w0001;"
     "CP=&&DataTime=20210305003817000;ele01-Rtd=1;ele02-Rtd=0&&8c41", "5553"),
]
MN = "010000A8900016F000169DC0"
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def modbus(data: bytes) -> int:
    """CRC-16/MODBUS, written out independently, to show the standard's CRC is a different function."""
    reg = 0xFFFF
    for b in data:
        reg ^= b
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
    return reg


def appendix_a(data: bytes) -> int:
    """HJ 212-2017 Appendix A, steps 1–10, bit by bit as printed (the module uses a table)."""
    reg = 0xFFFF
    for b in data:
        reg = (reg >> 8) ^ b
        for _ in range(8):
            check = reg & 0x0001
            reg >>= 1
            if check:
                reg ^= 0xA001
    return reg


def read_golden_file() -> list[tuple[str, str, str]]:
    rows = []
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            source, text, modbus_hex = (part.strip() for part in line.split("|"))
            rows.append((source, text, modbus_hex))
    return rows


def golden_rows() -> list[tuple[str, str, str]]:
    return read_golden_file() if GOLDEN.is_file() else GOLDEN_COPY


def wire(segment: str) -> bytes:
    """A frame around ``segment`` built independently of :func:`frame` (so the tests check frame())."""
    data = segment.encode("utf-8")
    return b"##%04d" % len(data) + data + b"%04X\r\n" % appendix_a(data)


# --- golden frames and the CRC ---------------------------------------------------------------------------------

def test_golden_file_matches_the_copy() -> None:
    if not GOLDEN.is_file():
        message = f"{GOLDEN} not found: set RAREECO_HJ212_GOLDEN to specs/hj212/golden-frames.txt"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert read_golden_file() == GOLDEN_COPY


@pytest.mark.parametrize("source,text,modbus_hex", golden_rows(), ids=[r[0] for r in golden_rows()])
def test_golden_frame_parses_and_its_crc_matches(source: str, text: str, modbus_hex: str) -> None:
    declared, segment, crc_hex = int(text[2:6]), text[6:-4], text[-4:]
    data = segment.encode("utf-8")
    assert declared == len(data)
    assert crc(data) == int(crc_hex, 16) == appendix_a(data)
    assert modbus(data) == int(modbus_hex, 16) != crc(data)  # the file's last column: what MODBUS would give
    for raw in (text.encode() + b"\r\n", text.encode()):  # with and without CR LF
        msg = parse(raw)
        assert msg.segment == segment
        assert msg.cn == segment.split("CN=")[1][:4]
    # rebuilt from the parsed message: the same frame (CRC in upper case)
    assert frame(parse(text.encode())) == (text[:-4] + crc_hex.upper()).encode() + b"\r\n"


def test_golden_frames_content() -> None:
    rows = {r[0]: parse(r[1].encode()) for r in golden_rows()}
    std = rows["standard example CN=1062"]
    assert (std.qn, std.st, std.cn, std.pw, std.mn, std.flag) == ("20160801085857223", "32", "1062", "100000", MN, 5)
    assert std.cp.fields == {"RtdInterval": "30"} and std.reply_required and not std.split
    assert std.version == hj212.VERSION_2017 and std.standard == "HJ 212-2017"
    minute = rows["flash520/hj212 client CN=2051"]
    assert minute.data_time == datetime(2022, 5, 13, 16, 26)
    assert minute.cp.values["a21005"] == {"Avg": 0.427, "Flag": "N"}
    assert len(minute.cp.values) == 11 and not minute.reply_required
    noqn = rows["alltobs-hj212 README (no QN)"]
    assert noqn.qn is None and noqn.flag is None and noqn.version is None and not noqn.reply_required
    assert noqn.cp.values == {"ele01": {"Rtd": 1.0}, "ele02": {"Rtd": 0.0}}
    assert noqn.data_time == datetime(2021, 3, 5, 0, 38, 17)  # 17 digits (with milliseconds) accepted
    assert rows["reply CN=9011"].cp.fields == {"QnRtn": "1"}


def test_crc_worked_example_of_the_docs() -> None:
    """docs/hj212.md walks the first bytes of the standard's Appendix A example."""
    assert crc(b"") == 0xFFFF
    assert crc(b"Q") == 0xBC81  # reg FFFF: (FF ^ 51) = AE, eight shifts → BC81
    assert crc(b"QN") == 0x8581
    assert crc(b"QN=") == 0x7200
    segment = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
    assert crc(segment) == 0x1C80 and modbus(segment) == 0x0759


@PROPERTY
@given(st.binary(max_size=300))
def test_crc_table_equals_appendix_a_bit_by_bit(data: bytes) -> None:
    assert crc(data) == appendix_a(data)


# --- round trips of every data upload --------------------------------------------------------------------------

def upload(cn: str, flag: int = 5) -> Message:
    """A data upload shaped like the standard's example for ``cn`` (Tables C.14–C.19), for flue gas."""
    stamp = {"2011": "20160801085857", "2021": "20160801085857", "2051": "20160801084000",
             "2061": "20160801080000", "2031": "20160801000000", "2041": "20160801000000"}[cn]
    values: dict[str, dict[str, float | str]]
    if cn == "2011":
        values = {"a21026": {"Rtd": 12.3, "ZsRtd": 18.25, "Flag": "N"}, "a34013": {"Rtd": 4.1, "Flag": "M"},
                  "a19001": {"Rtd": 8.7, "Flag": "N", "SampleTime": "20160801085800", "EFlag": "A01"},
                  "a00000": {"Rtd": 33471.0, "Flag": "T"}}
    elif cn == "2021":
        values = {"SB1": {"RS": 1.0}, "SB2": {"RS": 0.0}}
    elif cn == "2041":
        values = {"SB1": {"RT": 1.1}, "SB2": {"RT": 2.1}}
    else:
        values = {"a00000": {"Cou": 1512.0, "Min": 16.4, "Avg": 17.5, "Max": 20.1, "Flag": "N"},
                  "a21002": {"Min": 40.1, "Avg": 42.0, "Max": 45.9, "ZsAvg": 61.2, "Cou": 2.142, "Flag": "D"},
                  "a21026": {"Avg": -0.5, "Flag": "C"}, "a01012": {"Avg": 138.5, "Flag": "B"}}
    return Message(st="31", cn=cn, pw="123456", mn=MN, qn="20160801085857223", flag=flag,
                   cp=CP({"DataTime": stamp}, values))


@pytest.mark.parametrize("cn", ["2011", "2051", "2061", "2031", "2021", "2041"])
def test_upload_round_trip(cn: str) -> None:
    msg = upload(cn)
    raw = frame(msg)
    assert raw == wire(hj212.build_segment(msg))  # frame() agrees with an independent framing
    back = parse(raw)
    assert back == msg
    assert back.is_upload and back.reply_required and back.data_time is not None
    for suffixes in back.cp.values.values():
        for suffix, value in suffixes.items():
            assert isinstance(value, float if suffix in hj212.NUMERIC_SUFFIXES else str), (suffix, value)


def test_upload_values_and_flags_read_from_the_standard_example() -> None:
    """Table C.16 (minute data, water) as printed, Table C.14 with its blank and its code missing a letter."""
    minute = parse(wire(
        f"QN=20160801085000001;ST=32;CN=2051;PW=123456;MN={MN};Flag=5;CP=&&DataTime=20160801084000;"
        "w00000-Cou=10.5,w00000-Min=16.4,w00000-Avg=17.5,w00000-Max=20.1,w00000-Flag=N;w01001-Min=7.1,"
        "w01001-Avg=7.5,w01001-Max=7.8,w01001-Flag=N;w01018-Cou=10.5,w01018-Min=40.1,w01018-Avg=40.1,"
        "w01018-Max=40.1,w01018-Flag=N&&"))
    assert minute.cp.values["w00000"] == {"Cou": 10.5, "Min": 16.4, "Avg": 17.5, "Max": 20.1, "Flag": "N"}
    assert minute.data_time == datetime(2016, 8, 1, 8, 40)
    assert {v["Flag"] for v in minute.cp.values.values()} <= set(hj212.DATA_FLAGS)
    real = parse(wire(
        f"QN=20160801085857223;ST=32;CN=2011;PW=123456;MN={MN};Flag=5;CP=&&DataTime=20160801085857;w01001-Rtd=7.1,"
        "w01001-Flag=N;w01018-SampleTime=20160801070000,01018-Rtd=2.2,w01018-Flag=N,w01018-EFlag=A01&&"))
    assert real.cp.values["w01018"] == {"SampleTime": "20160801070000", "Flag": "N", "EFlag": "A01"}
    assert real.cp.values["01018"] == {"Rtd": 2.2}  # kept as printed: the codec does not guess codes


def test_value_text_that_is_not_a_number_is_kept() -> None:
    msg = parse(wire(f"QN=1;ST=31;CN=2011;PW=1;MN={MN};Flag=4;CP=&&a21026-Rtd=--,a21026-Flag=D;"
                     "a19001-Rtd=1e5;a00000-Rtd=" + "9" * 400 + ";x-Note=中文&&"))
    assert msg.cp.values["a21026"] == {"Rtd": "--", "Flag": "D"}
    assert msg.cp.values["a19001"] == {"Rtd": "1e5"}  # no exponents in HJ 212 numbers (§6.3.3.2.2)
    assert msg.cp.values["a00000"] == {"Rtd": "9" * 400}  # beyond float range
    assert msg.cp.values["x"] == {"Note": "中文"}  # UTF-8 text (§6.3)


def test_repeated_identical_values_are_accepted_once() -> None:
    msg = parse(wire(f"ST=27;Flag=4;CN=2011;PW=123456;MN={MN};CP=&&DataTime=20210823075400;a05002-Rtd=-0.94,"
                     "a05002-Flag=N;a05002-Cou=0.00,a05002-Flag=N;&&"))
    assert msg.cp.values == {"a05002": {"Rtd": -0.94, "Flag": "N", "Cou": 0.0}}


def test_format_value() -> None:
    assert [hj212.format_value(v) for v in (4.0, 0.427, 1e-05, -0.5, 1e22, 33471.0, "N")] == \
        ["4", "0.427", "0.00001", "-0.5", "10000000000000000000000", "33471", "N"]
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            hj212.format_value(bad)


# --- replies ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cn", sorted(hj212.UPLOAD_CNS))
def test_data_reply_when_flag_asks(cn: str) -> None:
    msg = Message(st="32", cn=cn, pw="123456", mn=MN, qn="20160801085857223", flag=5,
                  cp=CP({"DataTime": "20160801085857"}))
    answer = hj212.reply(msg)
    assert answer is not None
    # Appendix C, Tables C.14–C.19: the host's data reply, verbatim
    assert answer.segment == f"QN=20160801085857223;ST=91;CN=9014;PW=123456;MN={MN};Flag=4;CP=&&&&"
    assert frame(answer) == wire(answer.segment)
    assert not answer.reply_required and parse(frame(answer)) == answer


@pytest.mark.parametrize("flag", [4, 6, None, 0, 2])
def test_no_reply_when_flag_does_not_ask(flag: int | None) -> None:
    msg = replace_flag(upload("2061"), flag)
    assert hj212.reply(msg) is None


def replace_flag(msg: Message, flag: int | None) -> Message:
    from dataclasses import replace

    pn = (2, 1) if flag is not None and flag & 2 else (None, None)
    return replace(msg, flag=flag, pnum=pn[0], pno=pn[1])


def test_reply_keeps_the_senders_version() -> None:
    old = Message(st="32", cn="2011", pw="123456", mn=MN, qn="1", flag=1)  # HJ/T 212-2005, reply asked
    answer = hj212.reply(old)
    assert answer is not None and answer.flag == 0 and answer.cn == "9014"


def test_notification_reply_and_no_reply_to_replies() -> None:
    note = parse(wire(f"QN=20160801085857223;ST=32;CN=1013;PW=123456;MN={MN};Flag=5;CP=&& PolId=w01018&&"))
    assert note.cp.fields == {"PolId": "w01018"}
    answer = hj212.reply(note)
    assert answer is not None
    assert answer.segment == f"QN=20160801085857223;ST=91;CN=9013;PW=123456;MN={MN};Flag=4;CP=&&&&"  # Table C.4
    for cn in ("9011", "9012", "9013", "9014", "1011", "3020"):
        assert hj212.reply(Message(st="91", cn=cn, pw="123456", mn=MN, qn="1", flag=5)) is None


def test_request_reply_and_execution_result_as_in_the_standard() -> None:
    request = parse(wire(f"QN=20160801085857223;ST=32;CN=1000;PW=123456;MN={MN};Flag=5;"
                         "CP=&&OverTime=5;ReCount=3&&"))
    assert request.cp.fields == {"OverTime": "5", "ReCount": "3"}
    ok = hj212.request_reply(request)
    done = hj212.execution_result(request)
    # Appendix C, Table C.1, verbatim
    assert ok.segment == f"QN=20160801085857223;ST=91;CN=9011;PW=123456;MN={MN};Flag=4;CP=&&QnRtn=1&&"
    assert done.segment == f"QN=20160801085857223;ST=91;CN=9012;PW=123456;MN={MN};Flag=4;CP=&&ExeRtn=1&&"
    assert hj212.request_reply(request, QnRtn.BAD_PW).cp.fields == {"QnRtn": "3"}
    assert hj212.execution_result(request, ExeRtn.NO_DATA).cp.fields == {"ExeRtn": "100"}
    assert parse(frame(ok)) == ok and parse(frame(done)) == done


# --- split packets ---------------------------------------------------------------------------------------------

C50 = [  # Appendix C, Table C.50: two parts of one hourly upload, their own QNs, the same DataTime
    f"QN=20160801085857534;ST=32;CN=2061;PW=123456;MN={MN};Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20160801080000;"
    "w00000-Cou=63.0,w00000-Min=16.4,w00000-Avg=17.5,w00000-Max=20.1,w00000-Flag=N;w01001-Min=7.1,w01001-Avg=7.5,"
    "w01001-Max=7.8,w01001-Flag=N&&",
    f"QN=20160801085857535;ST=32;CN=2061;PW=123456;MN={MN};Flag=7;PNUM=2;PNO=2;CP=&&DataTime=20160801080000;"
    "w01018-Cou=63.0,w01018-Min=40.1,w01018-Avg=40.1,w01018-Max=40.1,w01018-Flag=N&&",
]


def c50_parts() -> list[Message]:
    return [parse(wire(s)) for s in C50]


def test_each_split_part_gets_its_own_data_reply() -> None:
    for part, qn in zip(c50_parts(), ("20160801085857534", "20160801085857535"), strict=True):
        assert part.split and part.reply_required and (part.pnum, part.pno) == (2, int(qn[-1]) - 3)
        answer = hj212.reply(part)
        assert answer is not None
        assert answer.segment == f"QN={qn};ST=91;CN=9014;PW=123456;MN={MN};Flag=4;CP=&&&&"  # Table C.50


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["in order", "out of order"])
def test_reassembly_of_the_standards_example(order: tuple[int, int]) -> None:
    parts = c50_parts()
    r = Reassembler(clock=lambda: 0.0)
    assert r.add(parts[order[0]]) is None and r.pending == 1 and r.parts_held == 1
    merged = r.add(parts[order[1]])
    assert merged is not None and r.pending == 0 and r.parts_held == 0
    assert merged.qn == "20160801085857534" and merged.flag == 5 and (merged.pnum, merged.pno) == (None, None)
    assert list(merged.cp.values) == ["w00000", "w01001", "w01018"]
    assert merged.cp.values["w01018"]["Avg"] == 40.1 and merged.data_time == datetime(2016, 8, 1, 8)
    assert parse(frame(merged)) == merged
    assert r.expire(1e9) == []


def test_reassembly_ignores_a_duplicate_part() -> None:
    parts = c50_parts()
    r = Reassembler(clock=lambda: 0.0)
    assert r.add(parts[0]) is None
    assert r.add(parts[0]) is None and r.duplicates == 1 and r.parts_held == 1
    assert r.add(parts[1]) is not None
    assert r.add(parts[1], now=5.0) is None and r.duplicates == 2  # a resend after completion: not a new upload
    assert r.pending == 0
    assert r.expire(now=1000.0) == []


def test_reassembly_takes_a_new_upload_with_the_same_data_time() -> None:
    """The same hour sent again with new QNs (e.g. answering a history request) is a new upload, not a resend."""
    from dataclasses import replace

    r = Reassembler(clock=lambda: 0.0)
    first = [r.add(p) for p in c50_parts()]
    again = [r.add(replace(p, qn=str(int(p.qn or 0) + 1000))) for p in c50_parts()]
    assert first[1] is not None and again[1] is not None and r.duplicates == 0
    assert again[1].qn == "20160801085858534"


def test_reassembly_missing_part_times_out() -> None:
    now = [0.0]
    r = Reassembler(idle_s=60.0, clock=lambda: now[0])
    assert r.add(c50_parts()[0]) is None
    now[0] = 59.0
    assert r.expire() == []
    now[0] = 60.0
    (dropped,) = r.expire()
    assert dropped.reason == "timeout" and dropped.received == (1,) and dropped.missing == (2,)
    assert dropped.pnum == 2 and list(dropped.partial.cp.values) == ["w00000", "w01001"]
    assert r.pending == 0 and r.parts_held == 0 and r.expire() == []


def test_reassembly_max_age_and_eviction() -> None:
    r = Reassembler(idle_s=60.0, max_age_s=100.0, max_groups=2)
    head = c50_parts()[0]
    from dataclasses import replace

    def part(hour: int) -> Message:
        return replace(head, cp=CP({"DataTime": f"201608010{hour}0000"}, head.cp.values))

    for t in range(0, 121, 30):  # a trickle of resends keeps the group active, but not for ever
        assert r.add(part(1), now=float(t)) is None
        assert [d.reason for d in r.expire(now=float(t))] == ([] if t < 100 else ["too_old"])
    r.add(part(2), now=200.0)
    r.add(part(3), now=201.0)
    r.add(part(4), now=202.0)  # a third group: the least recently active (hour 2) is evicted
    assert r.pending == 2
    dropped = r.expire(now=202.0)
    assert [(d.reason, d.key[4]) for d in dropped] == [("evicted", "20160801020000")]


def test_reassembly_part_limit() -> None:
    r = Reassembler(max_parts=3)
    big = Message(st="31", cn="2061", pw="1", mn=MN, qn="1", flag=7, pnum=4, pno=1)
    with pytest.raises(FrameError) as err:
        r.add(big)
    assert err.value.reason == "too_many_parts"
    r = Reassembler(max_parts=2)
    from dataclasses import replace

    for hour in range(3):  # 3 pending parts over a limit of 2 → the oldest group goes
        r.add(replace(c50_parts()[0], cp=CP({"DataTime": f"2016080100{hour}000"})), now=float(hour))
    assert r.parts_held == 2 and [d.reason for d in r.expire(now=3.0)] == ["evicted"]


def test_unsplit_message_passes_through() -> None:
    msg = upload("2011")
    assert Reassembler().add(msg) is msg


def test_split_message_and_reassemble() -> None:
    values = {f"a{i:05d}": {"Min": 1.25 * i, "Avg": 2.5 * i, "Max": 1e-05 * i, "Flag": "N"} for i in range(60)}
    big = Message(st="31", cn="2061", pw="123456", mn=MN, qn="20250101000000001", flag=5,
                  cp=CP({"DataTime": "20250101000000"}, values))
    with pytest.raises(FrameError) as err:
        frame(big)
    assert err.value.reason == "oversize"
    parts = hj212.split_message(big)
    assert len(parts) > 3
    raws = [frame(p) for p in parts]
    assert all(len(raw) <= 6 + 1024 + 6 for raw in raws)
    r = Reassembler(clock=lambda: 0.0)
    out = [r.add(parse(raw)) for raw in reversed(raws)]
    assert out[:-1] == [None] * (len(parts) - 1) and out[-1] == big
    assert hj212.split_message(upload("2011")) == [upload("2011")]


# --- every refusal ---------------------------------------------------------------------------------------------

GOOD = golden_rows()[0][1].encode() + b"\r\n"  # the standard's Appendix A example
SEG = GOOD[6:-6].decode()


def crafted() -> list[tuple[str, str, bytes]]:
    gbk = f"QN=1;ST=31;CN=2011;PW=1;MN={MN};Flag=4;CP=&&x-Note=稀土&&".encode("gbk")
    mod = SEG.encode()
    enc_2025 = (b"##0087QN=20240601085857223;ST=31;CN=2051;PW=123456;MN=010000A8900016F000169DC0;Flag=9;"
                b"CP=&&{0xE4,0x3E,0x15,0x9A}&&2200\r\n")  # an encrypted-looking 2025 frame: length disagrees
    return [
        ("bad_header", "not ##", b"$$" + GOOD[2:]),
        ("bad_header", "HTTP", b"GET / HTTP/1.1\r\n\r\n"),
        ("truncated", "empty", b""),
        ("truncated", "header only", b"##01"),
        ("truncated", "cut in the segment", GOOD[:50]),
        ("truncated", "CR without LF", GOOD[:-1]),
        ("bad_length", "letters", b"##01a1" + GOOD[6:]),
        ("bad_length", "one short", b"##0100" + GOOD[6:]),
        ("bad_length", "one long", b"##0102" + GOOD[6:]),
        ("bad_length", "three long", b"##0104" + GOOD[6:]),
        ("oversize", "over 1024", b"##1025" + b"x" * 1031),
        ("bad_trailer", "two frames", GOOD + GOOD),
        ("bad_trailer", "garbage", GOOD[:-2] + b"XY"),
        ("bad_crc", "flipped", GOOD[:-6] + b"1C81\r\n"),
        ("bad_crc", "not hex", GOOD[:-6] + b"1CZ0\r\n"),
        ("bad_crc", "MODBUS", GOOD[:-6] + b"%04X\r\n" % modbus(mod)),
        ("bad_crc", "damaged segment", GOOD.replace(b"RtdInterval=30", b"RtdInterval=31")),
        ("bad_encoding", "GBK", b"##%04d" % len(gbk) + gbk + b"%04X\r\n" % crc(gbk)),
        ("bad_field", "no CP", wire(f"QN=1;ST=31;CN=2011;PW=1;MN={MN};Flag=4")),
        ("bad_field", "CP not closed", wire(f"QN=1;ST=31;CN=2011;PW=1;MN={MN};Flag=4;CP=&&a=1&")),
        ("bad_field", "no MN", wire("QN=1;ST=31;CN=2011;PW=1;Flag=4;CP=&&&&")),
        ("bad_field", "no PW", wire(f"QN=1;ST=31;CN=2011;MN={MN};Flag=4;CP=&&&&")),
        ("bad_field", "CN not 4 digits", wire(f"QN=1;ST=31;CN=20a1;PW=1;MN={MN};Flag=4;CP=&&&&")),
        ("bad_field", "ST twice", wire(f"ST=31;ST=32;CN=2011;PW=1;MN={MN};CP=&&&&")),
        ("bad_field", "field without =", wire(f"ST=31;CN=2011;PW=1;MN={MN};junk;CP=&&&&")),
        ("bad_field", "MN too long", wire(f"ST=31;CN=2011;PW=1;MN={MN}X;CP=&&&&")),
        ("bad_field", "Flag 300", wire(f"ST=31;CN=2011;PW=1;MN={MN};Flag=300;CP=&&&&")),
        ("bad_field", "split without PNUM", wire(f"ST=31;CN=2061;PW=1;MN={MN};Flag=6;CP=&&&&")),
        ("bad_field", "PNO over PNUM", wire(f"ST=31;CN=2061;PW=1;MN={MN};Flag=6;PNUM=2;PNO=3;CP=&&&&")),
        ("bad_field", "PNUM alone", wire(f"ST=31;CN=2061;PW=1;MN={MN};Flag=4;PNUM=2;CP=&&&&")),
        ("bad_field", "bad DataTime", wire(f"ST=31;CN=2061;PW=1;MN={MN};CP=&&DataTime=20161301000000&&")),
        ("bad_field", "entry without =", wire(f"ST=31;CN=2061;PW=1;MN={MN};CP=&&DataTime&&")),
        ("bad_field", "bad key", wire(f"ST=31;CN=2061;PW=1;MN={MN};CP=&&a 1-Rtd=1&&")),
        ("bad_field", "conflicting values", wire(f"ST=31;CN=2011;PW=1;MN={MN};CP=&&a21026-Rtd=1;a21026-Rtd=2&&")),
        ("unsupported_version", "2025 Flag=9", b"##0087QN=20240601085857223;ST=32;CN=1011;PW=123456;"
                                               b"MN=010000A8900016F000169DC0;Flag=9;CP=&&&&2200\r\n"),
        ("unsupported_version", "2025 split", wire(f"ST=31;CN=2061;PW=1;MN={MN};Flag=11;PNUM=2;PNO=1;CP=&&&&")),
        ("unsupported_version", "2025 encrypted", enc_2025),
        ("unsupported_version", "version 3", wire(f"ST=31;CN=2011;PW=1;MN={MN};Flag=13;CP=&&&&")),
    ]


@pytest.mark.parametrize("reason,case,raw", crafted(), ids=[f"{r}-{c}" for r, c, _ in crafted()])
def test_refusal(reason: str, case: str, raw: bytes) -> None:
    with pytest.raises(FrameError) as err:
        parse(raw)
    e = err.value
    assert e.reason == reason, e.line()
    assert isinstance(e, ValueError) and isinstance(e, RareecoError)
    assert e.message and e.fix and e.to_dict()["reason"] == reason


def test_every_reason_has_a_crafted_frame() -> None:
    covered = {r for r, _, _ in crafted()} | {"too_many_parts"}  # that one: test_reassembly_part_limit
    assert covered == set(REASONS)


def test_refusal_messages_say_what_and_how() -> None:
    with pytest.raises(FrameError, match="CRC-16/MODBUS") as err:
        parse(GOOD[:-6] + b"%04X\r\n" % modbus(SEG.encode()))
    assert "Appendix A" in (err.value.fix or "")
    with pytest.raises(FrameError, match="says 100 bytes, the frame carries a 101-byte"):
        parse(b"##0100" + GOOD[6:])
    with pytest.raises(FrameError, match="HJ 212-2025") as err:
        parse(b"##0087QN=20240601085857223;ST=32;CN=1011;PW=123456;MN=010000A8900016F000169DC0;Flag=9;"
              b"CP=&&&&2200\r\n")
    assert "not available here" in err.value.message and "HJ 212-2017" in (err.value.fix or "")
    with pytest.raises(FrameError, match="not UTF-8") as err:
        parse(next(raw for r, _, raw in crafted() if r == "bad_encoding"))
    assert "GBK" in (err.value.fix or "")


def test_lower_case_crc_and_missing_crlf_are_accepted() -> None:
    lower = GOOD[:-6] + GOOD[-6:-2].lower() + b"\r\n"
    assert parse(lower) == parse(GOOD) == parse(GOOD[:-2])


def test_length_limit_is_configurable() -> None:
    seg = f"ST=31;CN=2011;PW=1;MN={MN};CP=&&x-Note={'a' * 1100}&&"
    with pytest.raises(FrameError) as err:
        parse(wire(seg))
    assert err.value.reason == "oversize"
    assert parse(wire(seg), max_segment=9999).cp.values["x"]["Note"] == "a" * 1100
    with pytest.raises(FrameError) as err:
        frame(seg)
    assert err.value.reason == "oversize"


def test_build_refuses_what_the_frame_cannot_carry() -> None:
    base = upload("2011")
    from dataclasses import replace

    for bad in (replace(base, mn="bad mn"), replace(base, cn="20110"), replace(base, extra={"Flag": "4"}),
                replace(base, cp=CP({"Note": "a;b"})), replace(base, cp=CP({}, {"a21026": {"Flag": "N,"}})),
                replace(base, cp=CP({" DataTime": "1"}))):
        with pytest.raises(FrameError) as err:
            frame(bad)
        assert err.value.reason == "bad_field"
    with pytest.raises(ValueError):
        frame(replace(base, cp=CP({}, {"a21026": {"Rtd": float("nan")}})))


# --- stations --------------------------------------------------------------------------------------------------

REGISTRY = {MN: "123456", "JLYP01_AIR01_0001": "654321"}


def test_registered_station_passes() -> None:
    check_station(upload("2011"), REGISTRY)
    check_station(parse(golden_rows()[2][1].encode()), {"JLYP01_AIR01_0001": "123456"})


@pytest.mark.parametrize("mn,pw,reason", [("010000A8900016F000169DC1", "123456", "unknown_mn"),
                                          (MN, "123457", "bad_password"), (MN, "12345", "bad_password")])
def test_station_refused(mn: str, pw: str, reason: str) -> None:
    from dataclasses import replace

    with pytest.raises(StationAuthError) as err:
        check_station(replace(upload("2011"), mn=mn, pw=pw), REGISTRY)
    e = err.value
    assert e.reason == reason and isinstance(e, PermissionError) and e.fix
    assert e.to_dict()["reason"] == reason and e.http_status == 401
    assert "123456" not in e.message  # the registered password is never echoed


# --- properties ------------------------------------------------------------------------------------------------

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
names = st.text(ALNUM + "_", min_size=1, max_size=8)
# text values: anything but the separators, without surrounding blanks; Chinese included (UTF-8, §6.3)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=";,"), max_size=12).map(str.strip)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
stamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.strftime("%Y%m%d%H%M%S"))
TEXT_SUFFIXES = ("Flag", "EFlag", "SampleTime", "Info", "SN")


@st.composite
def readings(draw: st.DrawFn) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for suffix in draw(st.lists(st.sampled_from(sorted(hj212.NUMERIC_SUFFIXES)), max_size=4, unique=True)):
        out[suffix] = draw(floats)
    for suffix in draw(st.lists(st.sampled_from(TEXT_SUFFIXES), max_size=2, unique=True)):
        out[suffix] = draw(st.sampled_from(sorted(hj212.DATA_FLAGS)) if suffix == "Flag" else texts)
    if not out:
        out["Rtd"] = draw(floats)
    return out


@st.composite
def messages(draw: st.DrawFn) -> Message:
    version = draw(st.sampled_from([0, 1]))
    reply_bit = draw(st.booleans())
    split = draw(st.booleans())
    flag = draw(st.none() | st.just((version << 2) | (2 if split else 0) | int(reply_bit)))
    pnum = pno = None
    if flag is not None and flag & 2 or (flag is None and split):
        pnum = draw(st.integers(1, 9999))
        pno = draw(st.integers(1, pnum))
    fields = {k: draw(texts) for k in draw(st.lists(names.filter(lambda n: n != "DataTime"), max_size=3))}
    if draw(st.booleans()):
        fields["DataTime"] = draw(stamps)
    values = {code: draw(readings()) for code in draw(st.lists(names, max_size=6, unique=True))}
    extra_keys = st.text(ALNUM, min_size=1, max_size=6).filter(
        lambda k: k[0].isalpha() and k not in ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO", "CP"))
    extra = {k: draw(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=";"), max_size=8))
             for k in draw(st.lists(extra_keys, max_size=2))}
    return Message(
        qn=draw(st.none() | st.from_regex(r"[0-9]{17}", fullmatch=True)),
        st=draw(st.from_regex(r"[0-9A-Z]{2}", fullmatch=True)),
        cn=draw(st.sampled_from(sorted(hj212.UPLOAD_CNS)) | st.from_regex(r"[0-9]{4}", fullmatch=True)),
        pw=draw(st.from_regex(r"[0-9A-Za-z]{1,6}", fullmatch=True)),
        mn=draw(st.from_regex(r"[0-9A-Za-z_.\-]{1,24}", fullmatch=True)),
        flag=flag, pnum=pnum, pno=pno, extra=extra, cp=CP(fields, values))


@settings(PROPERTY, max_examples=400)
@given(messages())
def test_property_parse_of_frame_is_identity(msg: Message) -> None:
    raw = frame(msg, max_segment=9999)
    back = parse(raw, max_segment=9999)
    assert back == msg
    assert frame(back, max_segment=9999) == raw


# --- fuzz: parse() of any bytes returns a Message or raises FrameError, nothing else -----------------------------

FUZZ_COUNT: dict[str, int] = {}
GOLDEN_RAW = [r[1].encode() + b"\r\n" for r in golden_rows()]
SEGMENT_ALPHABET = "QNSTCPWMFlagUOR=;,&-.0123456789aAwN ZsRtdAvgDataTime#稀\r\n"


def fuzz_one(kind: str, raw: bytes) -> None:
    FUZZ_COUNT[kind] = FUZZ_COUNT.get(kind, 0) + 1
    try:
        msg = parse(raw)
    except FrameError as exc:
        assert exc.reason in REASONS and exc.message
        return
    assert isinstance(msg, Message)
    hj212.reply(msg)  # replies and the reassembler take whatever parse() returns
    Reassembler().add(msg)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(GOLDEN_RAW)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, len(raw)))
        if op == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[at:]
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif at < len(raw):
            del raw[at]
    return bytes(raw)


HEADER_GOOD = ["QN=20160801085857223", "Flag=4", "Flag=5", "Flag=6", "Flag=7", "PNUM=2", "PNO=1", "PNO=2",
               "Extra=x y"]
HEADER_BAD = ["QN=2016x", "ST=3", "PW=1234567", "MN=", "Flag=9", "Flag=300", "PNO=3", "ST=31", "junk", "=", ""]
CP_GOOD = ["DataTime=20160801080000", "DataTime=20160801080000123", "a21026-Rtd=1.5", "a21026-Rtd=-.5",
           "a21026-Rtd=x", "a21026-Flag=N", "SB1-RS=1", "QnRtn=1", "k=", " ", "w01018-ZsAvg=1e5", "x-Info=稀土"]
CP_BAD = ["DataTime=2016", "a-b-c=1", "=1", "a 1=2", "&&", "a21026-Rtd=2", "DataTime=20160801090000"]


@st.composite
def valid_crc_frames(draw: st.DrawFn) -> bytes:
    """Frames with a correct length and CRC around a segment made of mostly well-formed pieces: these reach the
    header and data-area parser, and many of them parse."""
    header = ["ST=31", "CN=2061", "PW=123456", f"MN={MN}", *draw(st.lists(st.sampled_from(HEADER_GOOD), max_size=3))]
    if draw(st.integers(0, 4)) == 0:
        header += draw(st.lists(st.sampled_from(HEADER_BAD), min_size=1, max_size=2))
    header = draw(st.permutations(header))
    items = draw(st.lists(st.sampled_from(CP_GOOD), max_size=8))
    if draw(st.integers(0, 4)) == 0:
        items += draw(st.lists(st.sampled_from(CP_BAD) | st.text(SEGMENT_ALPHABET, max_size=10), min_size=1,
                               max_size=2))
    items = draw(st.permutations(items))
    seps = draw(st.lists(st.sampled_from([";", ";", ","]), min_size=len(items), max_size=len(items)))
    cp = "".join(sep + item for sep, item in zip(seps, items, strict=True))[1:]
    close = draw(st.sampled_from(["&&", "&&", "&&", "&"]))
    return wire(";".join([*header, "CP=&&" + cp + close]))


FUZZ = settings(PROPERTY, max_examples=1500)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(raw: bytes) -> None:
    fuzz_one("binary", raw)


@FUZZ
@given(mutated())
def test_fuzz_mutated_golden_frames(raw: bytes) -> None:
    fuzz_one("mutated", raw)


@FUZZ
@given(valid_crc_frames())
def test_fuzz_valid_crc_frames(raw: bytes) -> None:
    fuzz_one("valid_crc", raw)


def test_fuzz_random_bytes_seeded() -> None:
    """Beyond hypothesis: 20,000 seeded random byte strings, half of them starting with '##' and digits."""
    rng = random.Random(212)
    for i in range(20_000):
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        fuzz_one("seeded", b"##%04d" % rng.randint(0, 60) + raw if i % 2 else raw)
    assert FUZZ_COUNT["seeded"] >= 20_000


def test_fuzz_report(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints how many inputs the fuzz tests tried in this run (shown with ``pytest -s``)."""
    with capsys.disabled():
        total = sum(FUZZ_COUNT.values())
        print(f"\nHJ 212 fuzz inputs tried: {total} {dict(sorted(FUZZ_COUNT.items()))}")

"""The ledger schema (SQLAlchemy 2).  Every table carries ``org_id``: an organisation is a tenant.

Column names carry units where they hold quantities (DESIGN.md style 2); activity
amounts are stored in the catalogue's canonical unit, named in ``unit``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Per-organisation settings of the outputs, one key per output (e.g. "pact": company ids, classifications).
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(8))          # ISO 3166-2, e.g. CN-NM
    grid_region: Mapped[str] = mapped_column(String(32))      # e.g. CN-NORTH


class Line(Base):
    __tablename__ = "lines"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    capacity_t_reo_per_yr: Mapped[float | None] = mapped_column(Float, nullable=True)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))             # lower-kebab-case, e.g. prnd-oxide
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(16), default="t")


class Meter(Base):
    __tablename__ = "meters"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id"), nullable=True)
    code: Mapped[str] = mapped_column(String(64))
    carrier: Mapped[str] = mapped_column(String(64))          # an activity id, e.g. electricity.grid
    unit: Mapped[str] = mapped_column(String(16))
    # The meter tree (site → line → equipment): a sub-meter names the meter it sits under.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(16), default="main")   # main | sub | generation
    name: Mapped[str] = mapped_column(String(200), default="")
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"), nullable=True)


class Series(Base):
    """One time series of interval values (a meter's consumption, a CEMS channel).  ``interval_s`` is the
    expected spacing of the points [s]; gaps longer than it are findings."""

    __tablename__ = "series"
    __table_args__ = (UniqueConstraint("org_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))             # e.g. meter:BT-EL-MAIN, cems:MN…:a21026
    unit: Mapped[str] = mapped_column(String(16))
    interval_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Values are amounts per interval (summed in roll-ups, e.g. kWh) or levels (averaged, e.g. mg/m3, °C).
    kind: Mapped[str] = mapped_column(String(8), default="amount")    # amount | level


class Point(Base):
    """A raw point: ``value`` of the interval starting at ``ts`` [epoch s, UTC].  One point per series and instant
    (the primary key de-duplicates); ``batch_id`` traces it to the file or MQTT session it came from."""

    __tablename__ = "points"
    __table_args__ = {"sqlite_with_rowid": False}
    series_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    flag: Mapped[str | None] = mapped_column(String(4), nullable=True)
    batch_id: Mapped[int] = mapped_column(Integer)


class Rollup(Base):
    """Sum, count, minimum and maximum of a series' points per hour, day and month of local time.
    ``start`` is the local wall-clock start of the bucket as seconds from 1970-01-01 (no time zone)."""

    __tablename__ = "rollups"
    __table_args__ = {"sqlite_with_rowid": False}
    series_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(1), primary_key=True)  # h | d | m
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    total: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)


class SeriesBatch(Base):
    """One arrival of points: a CSV file (its checksum refuses a second import) or an MQTT session."""

    __tablename__ = "series_batches"
    __table_args__ = (UniqueConstraint("org_id", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    source: Mapped[str] = mapped_column(String(400))          # file name or mqtt://host:port/topic
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    points_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    points_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    findings: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Measure(Base):
    """An energy-saving measure (ISO 50001 action plan) with its estimate and how savings are verified
    (IPMVP option B: the measure's own meter; option C: the whole-facility baseline)."""

    __tablename__ = "energy_measures"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))             # motors | solar | process
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id"), nullable=True)
    in_service: Mapped[date] = mapped_column(Date)
    ipmvp_option: Mapped[str] = mapped_column(String(1))      # B | C
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"), nullable=True)
    cost_cny: Mapped[float] = mapped_column(Float)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)        # the kind's parameters (motors, kWp, …)
    note: Mapped[str] = mapped_column(Text, default="")


class ImportBatch(Base):
    __tablename__ = "import_batches"
    __table_args__ = (Index("ux_import_batches_active_sha256", "org_id", "sha256", unique=True,
                            sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    imported_by: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_stored: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")   # active | superseded
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)
    superseded_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    period_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[date | None] = mapped_column(Date, nullable=True)


class ActivityRecord(Base):
    """One row of activity data: ``amount`` in the catalogue's canonical ``unit`` over an inclusive period."""

    __tablename__ = "activity_records"
    __table_args__ = (Index("ix_activity_org_period", "org_id", "period_start", "period_end"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    # No FOREIGN KEY: a per-row check doubles the bulk COPY; the batch and its rows share one transaction.
    batch_id: Mapped[int] = mapped_column(Integer, index=True)
    row_no: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int] = mapped_column(Integer)
    line_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    product_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    meter: Mapped[str | None] = mapped_column(String(64), nullable=True)
    activity: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    amount_raw: Mapped[str] = mapped_column(String(64))
    unit_raw: Mapped[str] = mapped_column(String(32))
    supplier: Mapped[str | None] = mapped_column(String(200), nullable=True)
    evidence: Mapped[str | None] = mapped_column(String(400), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class QuarantineRow(Base):
    __tablename__ = "quarantine_rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), index=True)
    row_no: Mapped[int] = mapped_column(Integer)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[list[Any]] = mapped_column(JSON)


class FindingRecord(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)
    severity: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    file: Mapped[str | None] = mapped_column(String(400), nullable=True)
    row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    column: Mapped[str | None] = mapped_column(String(64), nullable=True)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    fix: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FactorSetRecord(Base):
    """A user-added factor set, stored whole (CSV text) so any result can be reproduced."""

    __tablename__ = "factor_sets"
    __table_args__ = (UniqueConstraint("org_id", "set_id", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    set_id: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(400))
    content: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Result(Base):
    """A calculated result with its provenance (DESIGN.md style 8)."""

    __tablename__ = "results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))             # inventory
    period: Mapped[str] = mapped_column(String(16))           # YYYY
    method: Mapped[str] = mapped_column(String(32))
    gwp_set: Mapped[str] = mapped_column(String(16))
    factor_sets: Mapped[dict[str, Any]] = mapped_column(JSON)   # set id → sha256 prefix
    input_sha256: Mapped[str] = mapped_column(String(64))
    software_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class PeriodLock(Base):
    __tablename__ = "period_locks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    period: Mapped[str] = mapped_column(String(16))           # YYYY or YYYY-MM
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)                   # inclusive
    locked_by: Mapped[str] = mapped_column(String(200))
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")
    unlocked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    unlocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    unlock_comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEntry(Base):
    """Append-only, hash-chained audit log (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))               # ISO 8601 UTC, hashed as text
    org_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(400))
    details: Mapped[str] = mapped_column(Text)                # canonical JSON, hashed as text
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32), default="steward")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FactorChoice(Base):
    """The user factor sets an organisation chose for a reporting year (``year`` null: every year)."""

    __tablename__ = "factor_choices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    set_ids: Mapped[list[Any]] = mapped_column(JSON)
    chosen_by: Mapped[str] = mapped_column(String(200))
    chosen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A person who signs in to the web platform; the password is stored as an argon2 hash."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    lang: Mapped[str] = mapped_column(String(8), default="en")           # en | zh
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Membership(Base):
    """A user's role in one organisation (admin, steward, verifier, viewer)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "org_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))


class WebSession(Base):
    """A signed-in browser: only the SHA-256 of the cookie is stored; CSRF token per session."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[str | None] = mapped_column(String(64), nullable=True)   # the organisation being viewed
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    """Sign-in attempts, for rate limiting (failures are also in the audit log)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)


class PendingUpload(Base):
    """A file checked in the web import page, kept until the user confirms or drops it."""

    __tablename__ = "pending_uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    file_name: Mapped[str] = mapped_column(String(400))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    replace_batch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FootprintConfig(Base):
    """An organisation's product-footprint settings (YAML text, docs/footprints.md); the latest version is used.

    Results store the ``sha256`` of the version they used.
    """

    __tablename__ = "footprint_configs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- green trade (issue 5): PACT host and client, EPDs ---------------------------------------------------------

class PactClient(Base):
    """A data recipient (a buyer) of the PACT host: OAuth2 client credentials, owned by one organisation.

    ``callback_hosts``: the only hosts events may be sent to for this client (no requests to arbitrary hosts).
    """

    __tablename__ = "pact_clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    company_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)     # the buyer's URNs, for requests
    callback_hosts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PactGrant(Base):
    """What a client may see: the organisation's footprints of one product (``*``: all of its products)."""

    __tablename__ = "pact_grants"
    __table_args__ = (UniqueConstraint("client_pk", "product_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("pact_clients.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(64))
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PactFootprint(Base):
    """A published PACT ProductFootprint (v3 JSON in ``payload``), made from a stored footprint result.

    A new version of a product's footprint deprecates the previous one (``status``), never edits it.
    """

    __tablename__ = "pact_footprints"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)          # the PACT id (UUID)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))                          # Active | Deprecated
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    result_id: Mapped[int | None] = mapped_column(Integer, nullable=True)    # the footprint result it came from
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class PactEvent(Base):
    """An event to or from the PACT host (CloudEvents 1.0): received requests and the outbox of replies.

    Outgoing events are retried with back-off until delivered or ``attempts`` runs out.
    """

    __tablename__ = "pact_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    client_pk: Mapped[int | None] = mapped_column(ForeignKey("pact_clients.id"), nullable=True)
    direction: Mapped[str] = mapped_column(String(8))                       # in | out
    event_type: Mapped[str] = mapped_column(String(120))
    event_id: Mapped[str] = mapped_column(String(120))
    target_url: Mapped[str | None] = mapped_column(String(400), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))                          # received | pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SupplierFootprint(Base):
    """A supplier's product footprint pulled over PACT (or imported), used as supplier-specific primary data.

    ``activity`` is the purchased input it prices (e.g. ``purchased.re_concentrate``): the footprint uses it
    in place of the secondary factor while it is valid.
    """

    __tablename__ = "supplier_footprints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    source: Mapped[str] = mapped_column(String(400))                        # host URL or file
    pf_id: Mapped[str] = mapped_column(String(36))                           # the supplier's PACT id
    supplier: Mapped[str] = mapped_column(String(200))
    product_ids: Mapped[list[Any]] = mapped_column(JSON)
    activity: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kg_co2e_per_unit: Mapped[float] = mapped_column(Float)
    declared_unit: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    primary_data_share_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Epd(Base):
    """An environmental product declaration (EN 15804+A2, ISO 14025) and its workflow.

    ``status``: draft → in_verification → verified → published; a published EPD is immutable and a new
    version supersedes it (``supersedes_id``).  ``uuid`` is stable across versions (the declaration's id);
    ``content`` holds the declaration (results per module and indicator, the ISO 14025 content).
    """

    __tablename__ = "epds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("epds.id"), nullable=True)
    result_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EpdComment(Base):
    """A verifier's (or the declarant's) comment on an EPD version."""

    __tablename__ = "epd_comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epd_id: Mapped[int] = mapped_column(ForeignKey("epds.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str] = mapped_column(Text)


class CemsStation(Base):
    """A CEMS data logger (HJ 212 station) at an outlet: identified by its MN, authenticated by its password."""

    __tablename__ = "cems_stations"
    __table_args__ = (UniqueConstraint("mn"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    mn: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200))            # the outlet, e.g. "roasting kiln stack DA001"
    password_sha256: Mapped[str] = mapped_column(String(64))  # of the PW the logger sends in every frame
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Hj212Frame(Base):
    """One accepted HJ 212 frame, stored before it is acknowledged (the gateway's durable log); processing into
    time series reads from here, so a frame can always be processed again."""

    __tablename__ = "hj212_frames"
    __table_args__ = (Index("ix_hj212_frames_station_time", "station_id", "data_time"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    station_id: Mapped[int] = mapped_column(Integer)
    qn: Mapped[str | None] = mapped_column(String(20), nullable=True)
    cn: Mapped[str] = mapped_column(String(4))
    st: Mapped[str | None] = mapped_column(String(4), nullable=True)
    data_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    peer: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str] = mapped_column(Text)                # the data segment as received (merged if split)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)


class GatewayFinding(Base):
    """Something wrong the HJ 212 gateway saw on a connection: a bad frame, an unknown station, a slow client."""

    __tablename__ = "gateway_findings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    peer: Mapped[str] = mapped_column(String(64))
    mn: Mapped[str | None] = mapped_column(String(24), nullable=True)
    reason: Mapped[str] = mapped_column(String(32))           # bad_crc, bad_length, unknown_mn, idle_timeout, …
    message: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text, default="")    # the start of the offending bytes, escaped
    action: Mapped[str] = mapped_column(String(16))           # kept (connection kept) | closed


class ComplianceEvent(Base):
    """An exceedance of a permit limit at an outlet (docs/compliance.md): a run of averaging periods above the
    limit, kept with its acknowledgement.  Detection upserts on (org, outlet, pollutant, period, limit, start), so a
    re-run extends an open event instead of adding a second one."""

    __tablename__ = "compliance_events"
    __table_args__ = (UniqueConstraint("org_id", "outlet", "pollutant", "period", "limit_value", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    outlet: Mapped[str] = mapped_column(String(64))           # outlet code of the compliance settings, e.g. DA001
    pollutant: Mapped[str] = mapped_column(String(16))        # HJ 212 code, e.g. a21026
    period: Mapped[str] = mapped_column(String(1))            # h | d (averaging period of the limit)
    limit_value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    limit_kind: Mapped[str] = mapped_column(String(16), default="permit")   # permit | target (ultra-low)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    periods: Mapped[int] = mapped_column(Integer)
    peak: Mapped[float] = mapped_column(Float)
    peak_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebhookDelivery(Base):
    """One notification to the organisation's webhook (an exceedance opened), with its delivery attempts; a
    failed delivery is retried by the next processing run and never blocks it."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("compliance_events.id", name="fk_webhook_deliveries_event"),
                                          index=True)
    url: Mapped[str] = mapped_column(String(400))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")   # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ZldPeriod(Base):
    """One period's records of a zero-liquid-discharge (evaporation-crystallisation) plant: meter readings,
    weighed salts and the magnesium-bicarbonate conversion (docs/zld.md).  Imported from a file whose batch
    also holds the salts as co-products (``production.output`` activity rows)."""

    __tablename__ = "zld_periods"
    __table_args__ = (UniqueConstraint("org_id", "plant", "period_start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", name="fk_zld_periods_site"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", name="fk_zld_periods_line"), nullable=True)
    plant: Mapped[str] = mapped_column(String(64))            # e.g. BT-ZLD
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id", name="fk_zld_periods_batch"),
                                                 nullable=True)
    # Water [m3], energy [kWh], dissolved solids [g/L]; see rareeco.monitoring.zld.Period.
    feed_m3: Mapped[float] = mapped_column(Float)
    distillate_reused_m3: Mapped[float] = mapped_column(Float)
    purge_m3: Mapped[float] = mapped_column(Float)
    discharge_m3: Mapped[float] = mapped_column(Float)
    tank_start_m3: Mapped[float] = mapped_column(Float, default=0.0)
    tank_end_m3: Mapped[float] = mapped_column(Float, default=0.0)
    vented_m3: Mapped[float] = mapped_column(Float, default=0.0)
    energy_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    feed_tds_g_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    purge_tds_g_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    tolerance_pct: Mapped[float] = mapped_column(Float)
    salts: Mapped[list[Any]] = mapped_column(JSON, default=list)         # [{kind, product, wet_t, moisture_pct}]
    # Magnesium-bicarbonate conversion: {mgso4_t, mg_hco3_t, co2_recycled_t, ...} as recorded.
    conversion: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

"""The estate's topology and people: site, posts, gates, lanes, devices, units, residents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from gate.domain.plates import normalize_plate
from gate.domain.units import normalize_phone, normalize_unit_code
from gate.extensions import db
from gate.models.types import UTCDateTime, utcnow


class Site(db.Model):
    """One estate (小区); `code` is the `{site}` level of MQTT topics."""

    __tablename__ = "site"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Shown on visitor pass share pages so visitors find the gate.
    address: Mapped[str | None] = mapped_column(String(200))
    is_demo: Mapped[bool] = mapped_column(default=False)
    posts: Mapped[list[Post]] = relationship(back_populates="site", order_by="Post.id")


class Post(db.Model):
    """A security post (岗亭) where a guard works a shift."""

    __tablename__ = "post"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    site: Mapped[Site] = relationship(back_populates="posts")
    gates: Mapped[list[Gate]] = relationship(back_populates="post", order_by="Gate.id")


class Gate(db.Model):
    """A vehicle or pedestrian gate watched from a post."""

    __tablename__ = "gate"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))  # vehicle | pedestrian
    post: Mapped[Post | None] = relationship(back_populates="gates")
    lanes: Mapped[list[Lane]] = relationship(back_populates="gate", order_by="Lane.id")


class Lane(db.Model):
    """One direction of traffic through a gate, with its devices."""

    __tablename__ = "lane"
    __table_args__ = (UniqueConstraint("gate_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gate.id"))
    code: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))  # in | out | both
    gate: Mapped[Gate] = relationship(back_populates="lanes")
    devices: Mapped[list[Device]] = relationship(back_populates="lane", order_by="Device.id")


DEVICE_KINDS = ("barrier", "camera", "scanner", "idreader")


class Device(db.Model):
    """A barrier, ANPR camera, QR scanner or ID-card reader; `code` is its MQTT `{id}`."""

    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("site_id", "kind", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    lane_id: Mapped[int | None] = mapped_column(ForeignKey("lane.id"))
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    profile: Mapped[str] = mapped_column(String(40), default="native")
    # Vendor settings from the site file (topic names, camera name…); never secrets.
    options: Mapped[dict | None] = mapped_column(JSON)
    # Where the device's broker password lives ("env:NAME" or "file:/path"), not the password.
    credentials: Mapped[str | None] = mapped_column(String(200))
    lane: Mapped[Lane | None] = relationship(back_populates="devices")


class Building(db.Model):
    """A building (楼栋) of the estate."""

    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(80))


class Unit(db.Model):
    """A flat (单元/房号); `code` is building-entrance-room, e.g. 1-1-101."""

    __tablename__ = "unit"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"))
    code: Mapped[str] = mapped_column(String(20), index=True)
    residents: Mapped[list[Resident]] = relationship(back_populates="unit")

    @validates("code")
    def _normal_code(self, _key: str, value: str) -> str:
        return normalize_unit_code(value)


class Resident(db.Model):
    """A person living in a unit; may have a portal account."""

    __tablename__ = "resident"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    is_owner: Mapped[bool] = mapped_column(default=True)
    # Set by the service desk; the resident's passes stop working and the portal closes.
    moved_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unit: Mapped[Unit] = relationship(back_populates="residents")
    vehicles: Mapped[list[Vehicle]] = relationship(back_populates="resident")

    @validates("phone")
    def _normal_phone(self, _key: str, value: str | None) -> str | None:
        return normalize_phone(value) if value else None


class Vehicle(db.Model):
    """A resident's vehicle; `plate` is stored normalised (gate.domain.plates)."""

    __tablename__ = "vehicle"
    __table_args__ = (UniqueConstraint("site_id", "plate"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    plate: Mapped[str] = mapped_column(String(12), index=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who registered or last changed the car at the service desk, and why (issue: vehicle lists).
    color: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resident: Mapped[Resident] = relationship(back_populates="vehicles")

    @validates("plate")
    def _normal_plate(self, _key: str, value: str) -> str:
        return normalize_plate(value)


VEHICLE_LISTS = ("blocklist", "vip")


class VehicleListEntry(db.Model):
    """A plate on the blocklist (keep closed, alert) or the leadership/VIP list (open, salute).

    Entries are never deleted while current: removal is recorded with who and when.
    """

    __tablename__ = "vehicle_list_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    list: Mapped[str] = mapped_column(String(10))
    plate: Mapped[str] = mapped_column(String(12), index=True)
    color: Mapped[str | None] = mapped_column(String(20))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @validates("plate")
    def _normal_plate(self, _key: str, value: str) -> str:
        return normalize_plate(value)

"""Database models. Import from here so Alembic sees every table."""

from gate.models.devices import BarrierCommandRecord, BridgeStatus, DeviceEvent, DeviceStatus
from gate.models.estate import (
    Building,
    Device,
    Gate,
    Lane,
    Post,
    Resident,
    Site,
    Unit,
    Vehicle,
    VehicleListEntry,
)
from gate.models.integrations import ApiKey  # integration API keys
from gate.models.parking import ParkingSession, Violation, ViolationPhoto, ViolationType
from gate.models.passes import ActivationCode, PassUse, PortalNotice, VisitorPass
from gate.models.shiftbook import Checkpoint, ShiftBookEntry, ShiftBookHead
from gate.models.shifts import (
    DeadlineAlert,
    FollowUp,
    JournalRecord,
    PostOrder,
    PostOrderAck,
    ScriptText,
    Shift,
)
from gate.models.slips import ReleaseSlip, ReleaseSlipItem, SerialCounter, UnitFlag
from gate.models.users import ROLES, Role, User
from gate.models.visits import Approval, Incident, Visit, Visitor, WatchlistEntry
from gate.models.webhooks import WebhookSubscription

__all__ = [
    "ApiKey",
    "ParkingSession",
    "Violation",
    "ViolationPhoto",
    "ViolationType",
    "VehicleListEntry",
    "ReleaseSlip",
    "ReleaseSlipItem",
    "SerialCounter",
    "UnitFlag",
    "ActivationCode",
    "PassUse",
    "PortalNotice",
    "VisitorPass",
    "Approval",
    "Incident",
    "Visit",
    "Visitor",
    "WatchlistEntry",
    "BarrierCommandRecord",
    "BridgeStatus",
    "DeviceEvent",
    "DeviceStatus",
    "ROLES",
    "Building",
    "Checkpoint",
    "DeadlineAlert",
    "Device",
    "FollowUp",
    "Gate",
    "JournalRecord",
    "Lane",
    "Post",
    "PostOrder",
    "PostOrderAck",
    "Resident",
    "Role",
    "ScriptText",
    "Shift",
    "ShiftBookEntry",
    "ShiftBookHead",
    "Site",
    "Unit",
    "User",
    "Vehicle",
    "WebhookSubscription",
]

"""The roster, business hours and presence in the database, and coverage computed from them.

Imports are all-or-nothing and audited (``roster.imported``, ``hours.imported``: who, the file's
SHA-256, what changed). Presence is kept by each running workstation's heartbeat: one row per
workstation and state (reviewing, idle, locked), its ``last_seen`` moved by every beat; a state change,
a sign-out or a missed heartbeat ends the row. A pharmacist is present while an unlocked row of theirs
is fresh (seen within ``fresh_seconds``), so closing the app, locking the screen or losing the
connection ends presence within a minute.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select

from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.accounts import Action, Principal, require
from workstation.domain.canonical import jcs
from workstation.domain.coverage import (
    REVIEWING_ROLES,
    BusinessCalendar,
    Coverage,
    Interval,
    Shift,
    Span,
    coverage,
    subtract,
    union,
)
from workstation.domain.errors import DomainError
from workstation.domain.local_time import shown
from workstation.domain.roster import RosterImportError, parse_hours_csv, parse_roster_csv
from workstation.domain.special_drugs import CsvRowError, in_file_order
from workstation.services import audit
from workstation.services.site import PHARMACY_NAME

PRESENCE_STATES = frozenset({"reviewing", "idle", "locked"})
HEARTBEAT_SECONDS = 15
FRESH_SECONDS = 45  # three beats: after that a workstation is gone (within a minute of its last sign)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


ALERT_AHEAD = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a lead must act on now; prescriptions keep waiting whatever it says (nothing is approved)."""

    kind: str  # "gap_coming": nobody rostered in business hours soon; "gap_begun": business hours, nobody on duty
    start: datetime
    end: datetime | None
    waiting: int  # prescriptions waiting for review

    def text(self, zone: str) -> str:
        if self.kind == "gap_coming":
            return (f"排班缺口将至：{shown(self.start, zone)} 起无审方药师排班 / a gap is coming: nobody is rostered "
                    f"to review from {shown(self.start, zone)}")
        return (f"无药师在岗：营业时间内 {self.waiting} 张处方等待审核 / nobody is on duty in business hours: "
                f"{self.waiting} prescription(s) waiting")


@dataclass(frozen=True, slots=True)
class RosterEntry:
    id: int
    licence: str
    name: str
    start: datetime
    end: datetime
    role: str


@dataclass(frozen=True, slots=True)
class ReportGap:
    kind: str  # "planned" (nobody rostered) or "actual" (nobody on duty)
    start: datetime
    end: datetime
    reason: str | None  # as the lead recorded it; None: not yet explained

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class MonthReport:
    """The monthly coverage report for inspections (在岗覆盖月报)."""

    month: date  # its first day
    pharmacy: str
    zone: str
    coverage: Coverage
    gaps: tuple[ReportGap, ...]
    signed_by: str  # the lead's name and licence
    signed_at: datetime

    def content(self) -> dict[str, object]:
        """What the sign-off covers (its SHA-256 is in the audit trail and printed on the report)."""
        return {"month": self.month.isoformat()[:7], "pharmacy": self.pharmacy, "coverage": self.coverage.as_json(),
                "gaps": [{"kind": g.kind, "start": g.start.isoformat(), "end": g.end.isoformat(),
                          "reason": g.reason} for g in self.gaps],
                "signed_by": self.signed_by, "signed_at": self.signed_at.isoformat()}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(jcs(self.content())).hexdigest()


@dataclass(frozen=True, slots=True)
class Workload:
    """One pharmacist's decisions in a period (counts and pace, never what was prescribed: 统方 is forbidden)."""

    licence: str
    name: str
    approved: int
    rejected: int
    returned: int
    median_decision_seconds: float | None  # from taking the claim to the decision


@dataclass(frozen=True, slots=True)
class Today:
    """The lead's live view."""

    at: datetime
    on_duty: tuple[str, ...]  # names of the pharmacists on duty now
    present: tuple[str, ...]  # names signed in and not locked, rostered or not
    rostered_now: tuple[str, ...]
    waiting: int
    waiting_p50_seconds: float | None
    waiting_p90_seconds: float | None
    waiting_in_gap: int  # prescriptions that arrived during today's actual gaps and still wait
    coverage: Coverage  # today so far: from the day's start to now
    workload: tuple[Workload, ...]


@dataclass
class _Tally:
    name: str
    kinds: dict[str, int] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)


def _reason(reason: str) -> str:
    clean = " ".join(reason.split())[:500]
    if not clean:
        raise DomainError("排班变更须注明原因 / a roster change needs a reason")
    return clean


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class CoverageService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], *, time_zone: str,
                 clock: Callable[[], datetime] = utcnow, fresh_seconds: float = FRESH_SECONDS) -> None:
        self._uow = uow_factory
        self._tz = time_zone
        self._clock = clock
        self._fresh = timedelta(seconds=fresh_seconds)

    # -- the roster

    def import_roster(self, principal: Principal, data: bytes, source: str) -> int:
        """Add the file's shifts (all or none); an unknown licence or an overlap with a stored shift of the same
        pharmacist is an error on its line. Returns the shifts added."""
        require(principal, Action.MANAGE_ROSTER)
        what = "排班表无法导入 / roster import rejected"
        rows = parse_roster_csv(data, source)
        now = self._clock()
        with self._uow() as uow:
            s = uow.session
            licences = {r.licence for r in rows}
            ids = dict(s.execute(select(orm.Pharmacist.licence, orm.Pharmacist.id)
                                 .where(orm.Pharmacist.licence.in_(licences))).all())
            errors = [CsvRowError(r.line, "licence", f"没有执业证号为 {r.licence} 的药师账户",
                                  f"no pharmacist account has licence {r.licence}") for r in rows if r.licence not in ids]
            for r in rows:
                if r.licence not in ids:
                    continue
                clash = s.scalars(select(orm.RosterShift).where(
                    orm.RosterShift.pharmacist_id == ids[r.licence], orm.RosterShift.starts_at < r.end,
                    orm.RosterShift.ends_at > r.start).limit(1)).first()
                if clash is not None:
                    errors.append(CsvRowError(r.line, "start", "与已排班次重叠（"
                                              f"{clash.starts_at.isoformat()}–{clash.ends_at.isoformat()}）",
                                              f"overlaps a stored shift ({clash.starts_at.isoformat()}–"
                                              f"{clash.ends_at.isoformat()})"))
            if errors:
                raise RosterImportError(what, in_file_order(errors), source)
            for r in rows:
                s.add(orm.RosterShift(pharmacist_id=ids[r.licence], starts_at=r.start, ends_at=r.end, role=r.role,
                                      created_at=now, created_by=principal.actor[:128]))
            audit.record(uow, actor=principal.actor, action="roster.imported", subject="roster",
                         details={"source": source, "sha256": hashlib.sha256(data).hexdigest(), "shifts": len(rows),
                                  "from": min(r.start for r in rows).isoformat(),
                                  "to": max(r.end for r in rows).isoformat()}, at=now)
            uow.commit()
        return len(rows)

    def entries(self, principal: Principal, start: datetime, end: datetime, *, mine: bool = False) -> list[RosterEntry]:
        """The roster in ``[start, end)``: everyone's for a lead, one's own shifts for a pharmacist (``mine``)."""
        if not mine:
            require(principal, Action.VIEW_COVERAGE)
        with self._uow() as uow:
            q = (select(orm.RosterShift.id, orm.Pharmacist.licence, orm.Pharmacist.name, orm.RosterShift.starts_at,
                        orm.RosterShift.ends_at, orm.RosterShift.role)
                 .join(orm.Pharmacist, orm.Pharmacist.id == orm.RosterShift.pharmacist_id)
                 .where(orm.RosterShift.starts_at < end, orm.RosterShift.ends_at > start)
                 .order_by(orm.RosterShift.starts_at, orm.Pharmacist.licence))
            if mine:
                q = q.where(orm.RosterShift.pharmacist_id == principal.pharmacist_id)
            return [RosterEntry(*row) for row in uow.session.execute(q).all()]

    def add_shift(self, principal: Principal, licence: str, start: datetime, end: datetime, *, role: str = "审方",
                  reason: str) -> int:
        """A new shift (audited with the reason); refused when it overlaps the pharmacist's other shifts."""
        require(principal, Action.MANAGE_ROSTER)
        with self._uow() as uow:
            pharmacist = self._pharmacist(uow, licence)
            self._check_free(uow, pharmacist.id, start, end, None)
            row = orm.RosterShift(pharmacist_id=pharmacist.id, starts_at=start, ends_at=end, role=role[:32],
                                  created_at=self._clock(), created_by=principal.actor[:128])
            uow.session.add(row)
            uow.session.flush()
            audit.record(uow, actor=principal.actor, action="roster.shift_added", subject=f"roster_shift:{row.id}",
                         details={"licence": licence, "start": start.isoformat(), "end": end.isoformat(), "role": role,
                                  "reason": _reason(reason)}, at=self._clock())
            uow.commit()
            return row.id

    def change_shift(self, principal: Principal, shift_id: int, start: datetime, end: datetime, *,
                     role: str | None = None, licence: str | None = None, reason: str) -> None:
        """Move, reassign or re-role a shift (audited with the old and the new, and why)."""
        require(principal, Action.MANAGE_ROSTER)
        with self._uow() as uow:
            row = self._shift(uow, shift_id)
            old = self._describe(uow, row)
            pharmacist_id = self._pharmacist(uow, licence).id if licence else row.pharmacist_id
            self._check_free(uow, pharmacist_id, start, end, row.id)
            row.pharmacist_id, row.starts_at, row.ends_at = pharmacist_id, start, end
            if role:
                row.role = role[:32]
            uow.session.flush()
            audit.record(uow, actor=principal.actor, action="roster.shift_changed", subject=f"roster_shift:{row.id}",
                         details={"old": old, "new": self._describe(uow, row), "reason": _reason(reason)},
                         at=self._clock())
            uow.commit()

    def remove_shift(self, principal: Principal, shift_id: int, *, reason: str) -> None:
        require(principal, Action.MANAGE_ROSTER)
        with self._uow() as uow:
            row = self._shift(uow, shift_id)
            old = self._describe(uow, row)
            uow.session.delete(row)
            audit.record(uow, actor=principal.actor, action="roster.shift_removed", subject=f"roster_shift:{shift_id}",
                         details={"old": old, "reason": _reason(reason)}, at=self._clock())
            uow.commit()

    def swap_shifts(self, principal: Principal, first: int, second: int, *, reason: str) -> None:
        """Two pharmacists exchange shifts (换班), audited with both and why."""
        require(principal, Action.MANAGE_ROSTER)
        with self._uow() as uow:
            a, b = self._shift(uow, first), self._shift(uow, second)
            before = [self._describe(uow, a), self._describe(uow, b)]
            a.pharmacist_id, b.pharmacist_id = b.pharmacist_id, a.pharmacist_id
            for row in (a, b):
                self._check_free(uow, row.pharmacist_id, row.starts_at, row.ends_at, row.id, also=(a.id, b.id))
            uow.session.flush()
            audit.record(uow, actor=principal.actor, action="roster.shifts_swapped", subject=f"roster_shift:{first}",
                         details={"before": before, "after": [self._describe(uow, a), self._describe(uow, b)],
                                  "reason": _reason(reason)}, at=self._clock())
            uow.commit()

    def copy_week(self, principal: Principal, week: date, to: date, *, reason: str) -> int:
        """Use a planned week as the template of another (周排班模板): its shifts, moved by whole weeks, are
        added to the week of ``to``; any clash with a shift already there refuses the whole copy."""
        require(principal, Action.MANAGE_ROSTER)
        zone = ZoneInfo(self._tz)
        monday = week - timedelta(days=week.weekday())
        target = to - timedelta(days=to.weekday())
        if target == monday:
            raise DomainError("模板周与目标周相同 / the template week and the target week are the same")
        offset = timedelta(days=(target - monday).days)
        start = datetime.combine(monday, time(0), zone)
        now = self._clock()
        why = _reason(reason)
        with self._uow() as uow:
            template = uow.session.scalars(select(orm.RosterShift).where(
                orm.RosterShift.starts_at >= start, orm.RosterShift.starts_at < start + timedelta(days=7))
                .order_by(orm.RosterShift.starts_at)).all()
            if not template:
                raise DomainError(f"{monday.isoformat()} 这一周没有班次可作模板 / the week of {monday.isoformat()} has no "
                                  "shifts to copy")
            for shift in template:
                self._check_free(uow, shift.pharmacist_id, shift.starts_at + offset, shift.ends_at + offset, None)
            for shift in template:
                uow.session.add(orm.RosterShift(pharmacist_id=shift.pharmacist_id, starts_at=shift.starts_at + offset,
                                                ends_at=shift.ends_at + offset, role=shift.role, created_at=now,
                                                created_by=principal.actor[:128]))
            audit.record(uow, actor=principal.actor, action="roster.week_copied", subject=f"roster:{target.isoformat()}",
                         details={"template_week": monday.isoformat(), "week": target.isoformat(),
                                  "shifts": len(template), "reason": why}, at=now)
            uow.commit()
        return len(template)

    @staticmethod
    def _pharmacist(uow: UnitOfWork, licence: str | None) -> orm.Pharmacist:
        row = uow.session.scalars(select(orm.Pharmacist).where(orm.Pharmacist.licence == (licence or "").strip())).first()
        if row is None:
            raise DomainError(f"没有执业证号为 {licence} 的药师账户 / no pharmacist account has licence {licence}")
        return row

    @staticmethod
    def _shift(uow: UnitOfWork, shift_id: int) -> orm.RosterShift:
        row = uow.session.get(orm.RosterShift, shift_id)
        if row is None:
            raise DomainError(f"没有编号为 {shift_id} 的班次 / no shift {shift_id}")
        return row

    @staticmethod
    def _describe(uow: UnitOfWork, row: orm.RosterShift) -> dict[str, str]:
        pharmacist = uow.session.get(orm.Pharmacist, row.pharmacist_id)
        return {"licence": pharmacist.licence if pharmacist else "?", "start": row.starts_at.isoformat(),
                "end": row.ends_at.isoformat(), "role": row.role}

    @staticmethod
    def _check_free(uow: UnitOfWork, pharmacist_id: int, start: datetime, end: datetime, own: int | None,
                    also: tuple[int, ...] = ()) -> None:
        if end <= start:
            raise DomainError("班次的结束时间须晚于开始时间 / a shift must end after it starts")
        if (end - start) > timedelta(hours=24):
            raise DomainError("一个班次不超过 24 小时 / a shift is at most 24 hours")
        clash = uow.session.scalars(select(orm.RosterShift).where(
            orm.RosterShift.pharmacist_id == pharmacist_id, orm.RosterShift.starts_at < end,
            orm.RosterShift.ends_at > start, orm.RosterShift.id.not_in([x for x in (own, *also) if x is not None]))
            .limit(1)).first()
        if clash is not None:
            raise DomainError(f"与该药师已有班次重叠（{clash.starts_at.isoformat()}–{clash.ends_at.isoformat()}）/ overlaps "
                              "that pharmacist's other shift")

    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        with self._uow() as uow:
            found = uow.session.execute(
                select(orm.Pharmacist.licence, orm.RosterShift.starts_at, orm.RosterShift.ends_at, orm.RosterShift.role)
                .join(orm.Pharmacist, orm.Pharmacist.id == orm.RosterShift.pharmacist_id)
                .where(orm.RosterShift.starts_at < end, orm.RosterShift.ends_at > start)
                .order_by(orm.RosterShift.starts_at, orm.Pharmacist.licence)).all()
        return [Shift(licence, a, b, role) for licence, a, b, role in found]

    def export_roster(self, principal: Principal, start: datetime, end: datetime) -> str:
        """The shifts in ``[start, end)`` in the import format (times in the pharmacy's zone)."""
        require(principal, Action.VIEW_COVERAGE)
        zone = ZoneInfo(self._tz)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["licence", "start", "end", "role"])
        for shift in self.shifts(start, end):
            writer.writerow([shift.licence, shift.start.astimezone(zone).isoformat(),
                             shift.end.astimezone(zone).isoformat(), shift.role])
        return out.getvalue()

    # -- business hours

    def import_hours(self, principal: Principal, data: bytes, source: str) -> tuple[int, int]:
        """Weekday rows replace the weekly hours (when the file has any); date rows replace those dates.
        Returns (weekday spans, dates)."""
        require(principal, Action.MANAGE_ROSTER)
        rows = parse_hours_csv(data, source)
        weekly = [r for r in rows if r.weekday is not None]
        dated = [r for r in rows if r.day is not None]
        now = self._clock()
        with self._uow() as uow:
            s = uow.session
            if weekly:
                s.execute(delete(orm.BusinessHours).where(orm.BusinessHours.weekday.is_not(None)))
            days = sorted({r.day for r in dated if r.day is not None})
            if days:
                s.execute(delete(orm.BusinessHours).where(orm.BusinessHours.day.in_(days)))
            for r in rows:
                s.add(orm.BusinessHours(weekday=r.weekday, day=r.day,
                                        opens=_hhmm(r.opens) if r.opens else None,
                                        closes=_hhmm(r.closes) if r.closes else None))
            audit.record(uow, actor=principal.actor, action="hours.imported", subject="business_hours",
                         details={"source": source, "sha256": hashlib.sha256(data).hexdigest(),
                                  "weekly_replaced": bool(weekly), "weekday_spans": len(weekly),
                                  "dates": [d.isoformat() for d in days]}, at=now)
            uow.commit()
        return len(weekly), len(days)

    def calendar(self) -> BusinessCalendar:
        weekly: dict[int, list[Span]] = {}
        days: dict[date, list[Span]] = {}
        with self._uow() as uow:
            for row in uow.session.scalars(select(orm.BusinessHours)):
                spans = [(_time(row.opens), _time(row.closes))] if row.opens and row.closes else []
                if row.weekday is not None:
                    weekly.setdefault(row.weekday, []).extend(spans)
                elif row.day is not None:
                    days.setdefault(row.day, []).extend(spans)
        return BusinessCalendar(self._tz, {k: tuple(v) for k, v in weekly.items()},
                                {k: tuple(v) for k, v in days.items()})

    # -- presence

    def beat(self, principal: Principal, workstation_id: str, state: str) -> None:
        """One heartbeat of a running workstation: who is signed in there, and in what state."""
        if state not in PRESENCE_STATES:
            raise DomainError(f"unknown presence state {state!r} (one of {', '.join(sorted(PRESENCE_STATES))})")
        if principal.pharmacist_id is None:
            return  # an IT session is nobody's presence
        now = self._clock()
        with self._uow() as uow:
            s = uow.session
            row = s.scalars(select(orm.Presence).where(orm.Presence.workstation_id == workstation_id,
                                                       orm.Presence.ended_at.is_(None))
                            .order_by(orm.Presence.id.desc()).limit(1)).first()
            if (row is not None and row.pharmacist_id == principal.pharmacist_id and row.state == state
                    and now - row.last_seen <= self._fresh):
                row.last_seen = now
            else:
                if row is not None:
                    row.ended_at = min(now, row.last_seen + self._fresh)
                s.add(orm.Presence(workstation_id=workstation_id[:64], pharmacist_id=principal.pharmacist_id,
                                   state=state, started_at=now, last_seen=now))
            uow.commit()

    def leave(self, workstation_id: str) -> None:
        """The workstation signs out or closes: its presence ends now."""
        now = self._clock()
        with self._uow() as uow:
            for row in uow.session.scalars(select(orm.Presence).where(
                    orm.Presence.workstation_id == workstation_id, orm.Presence.ended_at.is_(None))):
                row.ended_at = now
            uow.commit()

    def presence(self, start: datetime, end: datetime) -> dict[str, list[Interval]]:
        """When each pharmacist was present (signed in, not locked, heartbeat fresh) within ``[start, end)``."""
        now = self._clock()
        with self._uow() as uow:
            found = uow.session.execute(
                select(orm.Pharmacist.licence, orm.Presence.started_at, orm.Presence.last_seen, orm.Presence.ended_at)
                .join(orm.Pharmacist, orm.Pharmacist.id == orm.Presence.pharmacist_id)
                .where(orm.Presence.state != "locked", orm.Presence.started_at < end,
                       or_(orm.Presence.ended_at.is_(None), orm.Presence.ended_at > start))).all()
        out: dict[str, list[Interval]] = {}
        for licence, started, seen, ended in found:
            until = ended if ended is not None else min(seen + self._fresh, now)
            if until > started:
                out.setdefault(licence, []).append(Interval(started, until))
        return {k: union(v) for k, v in out.items()}

    def present_now(self) -> list[str]:
        """Licences of the pharmacists signed in at an unlocked workstation with a fresh heartbeat."""
        now = self._clock()
        with self._uow() as uow:
            return sorted(set(uow.session.scalars(
                select(orm.Pharmacist.licence).join(orm.Presence, orm.Presence.pharmacist_id == orm.Pharmacist.id)
                .where(orm.Presence.ended_at.is_(None), orm.Presence.state != "locked",
                       orm.Presence.last_seen >= now - self._fresh))))

    def on_duty_now(self) -> list[str]:
        """Licences of the pharmacists on duty at this moment: rostered to review and present."""
        now = self._clock()
        rostered = {s.licence for s in self.shifts(now, now + timedelta(seconds=1)) if s.role in REVIEWING_ROLES}
        return [licence for licence in self.present_now() if licence in rostered]

    # -- alerts

    def alerts(self) -> list[Alert]:
        """A gap coming (no reviewing pharmacist rostered in the next 30 minutes of business hours) or begun
        (business hours, prescriptions waiting, nobody on duty)."""
        now = self._clock()
        found: list[Alert] = []
        calendar = self.calendar()
        # From a day back, so a gap already under way keeps the start it had (and is announced once).
        since, until = now - timedelta(days=1), now + ALERT_AHEAD
        business = calendar.intervals(since, until)
        rostered = union(s.interval() for s in self.shifts(since, until) if s.role in REVIEWING_ROLES)
        with self._uow() as uow:
            waiting = uow.session.scalar(select(func.count()).select_from(orm.Prescription)
                                         .where(orm.Prescription.status == "received")) or 0
        open_now = any(iv.start <= now < iv.end for iv in business)
        if open_now and waiting and not self.on_duty_now():
            # Since when: the actual gap under way, so that it keeps one start while it lasts.
            soon = now + timedelta(seconds=1)
            under_way = coverage(calendar, self.shifts(since, soon), self.presence(since, soon), since, soon).actual_gaps
            found.append(Alert("gap_begun", under_way[-1].start if under_way else now, None, waiting))
        gaps = [g for g in subtract(business, rostered) if g.end > now]
        if gaps:  # the first: one alert says enough
            found.append(Alert("gap_coming", gaps[0].start, gaps[0].end, waiting))
        return found

    # -- the lead's dashboard

    def workload(self, principal: Principal, start: datetime, end: datetime) -> tuple[Workload, ...]:
        """Decisions per pharmacist in ``[start, end)`` with the median time from claim to decision."""
        require(principal, Action.VIEW_COVERAGE)
        with self._uow() as uow:
            s = uow.session
            decided = s.execute(
                select(orm.Pharmacist.licence, orm.Pharmacist.name, orm.Decision.kind, orm.Decision.decided_at,
                       orm.Decision.prescription_number, orm.Decision.version)
                .join(orm.Pharmacist, orm.Pharmacist.id == orm.Decision.pharmacist_id)
                .where(orm.Decision.decided_at >= start, orm.Decision.decided_at < end)).all()
            subjects = {f"prescription:{n}/v{v}" for *_, n, v in decided}
            claims: dict[tuple[str, str], list[datetime]] = {}
            for actor, subject, at in s.execute(
                    select(orm.AuditEvent.actor, orm.AuditEvent.subject, orm.AuditEvent.at)
                    .where(orm.AuditEvent.action == "claim.taken", orm.AuditEvent.at >= start - timedelta(days=1),
                           orm.AuditEvent.at < end)):
                if subject in subjects:
                    claims.setdefault((actor, subject), []).append(at)
        tallies: dict[str, _Tally] = {}
        for licence, name, kind, decided_at, number_, version in decided:
            tally = tallies.setdefault(licence, _Tally(name))
            tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
            taken = [t for t in claims.get((f"pharmacist:{licence}", f"prescription:{number_}/v{version}"), [])
                     if t <= decided_at]
            if taken:
                tally.seconds.append((decided_at - max(taken)).total_seconds())
        return tuple(Workload(licence, t.name, t.kinds.get("approve", 0), t.kinds.get("reject", 0),
                              t.kinds.get("return", 0), _percentile(t.seconds, 0.5))
                     for licence, t in sorted(tallies.items()))

    def today(self, principal: Principal) -> Today:
        require(principal, Action.VIEW_COVERAGE)
        now = self._clock()
        zone = ZoneInfo(self._tz)
        day_start = datetime.combine(now.astimezone(zone).date(), time(0), zone)
        names = self._names()
        so_far = coverage(self.calendar(), self.shifts(day_start, now + timedelta(seconds=1)),
                          self.presence(day_start, now + timedelta(seconds=1)), day_start, now + timedelta(seconds=1))
        with self._uow() as uow:
            received = list(uow.session.scalars(select(orm.Prescription.received_at)
                                                .where(orm.Prescription.status == "received")))
        waits = [(now - r).total_seconds() for r in received]
        in_gap = sum(1 for r in received if any(g.start <= r < g.end for g in so_far.actual_gaps))
        rostered = sorted({s.licence for s in self.shifts(now, now + timedelta(seconds=1)) if s.role in REVIEWING_ROLES})
        return Today(
            at=now, on_duty=tuple(names.get(x, x) for x in self.on_duty_now()),
            present=tuple(names.get(x, x) for x in self.present_now()),
            rostered_now=tuple(names.get(x, x) for x in rostered), waiting=len(received),
            waiting_p50_seconds=_percentile(waits, 0.5), waiting_p90_seconds=_percentile(waits, 0.9),
            waiting_in_gap=in_gap, coverage=so_far, workload=self.workload(principal, day_start, now))

    def _names(self) -> dict[str, str]:
        with self._uow() as uow:
            return dict(uow.session.execute(select(orm.Pharmacist.licence, orm.Pharmacist.name)).all())

    # -- the monthly report

    def note_gap(self, principal: Principal, start: datetime, end: datetime, reason: str) -> int:
        """Record why a gap happened (shown beside every gap it overlaps in the report); audited."""
        require(principal, Action.MANAGE_ROSTER)
        if end <= start:
            raise DomainError("缺口的结束时间须晚于开始时间 / a gap must end after it starts")
        now = self._clock()
        with self._uow() as uow:
            row = orm.CoverageGapNote(starts_at=start, ends_at=end, reason=_reason(reason),
                                      noted_by=principal.actor[:128], noted_at=now)
            uow.session.add(row)
            uow.session.flush()
            audit.record(uow, actor=principal.actor, action="coverage.gap_noted", subject=f"coverage_gap_note:{row.id}",
                         details={"start": start.isoformat(), "end": end.isoformat(), "reason": row.reason}, at=now)
            uow.commit()
            return row.id

    def month_report(self, principal: Principal, year: int, month: int) -> MonthReport:
        """The month's coverage with every gap and its recorded reason, signed off by ``principal`` (a lead):
        the sign-off is audited with the report's SHA-256 (``coverage.report_signed_off``)."""
        require(principal, Action.MANAGE_ROSTER)
        zone = ZoneInfo(self._tz)
        first = date(year, month, 1)
        start = datetime.combine(first, time(0), zone)
        end = datetime.combine((first + timedelta(days=32)).replace(day=1), time(0), zone)
        now = self._clock()
        until = min(end, max(now, start + timedelta(seconds=1)))  # the future has no actual gaps yet
        actual = coverage(self.calendar(), self.shifts(start, until), self.presence(start, until), start, until)
        planned = coverage(self.calendar(), self.shifts(start, end), {}, start, end).planned_gaps
        with self._uow() as uow:
            notes = uow.session.execute(select(orm.CoverageGapNote.starts_at, orm.CoverageGapNote.ends_at,
                                               orm.CoverageGapNote.reason)
                                        .where(orm.CoverageGapNote.starts_at < end, orm.CoverageGapNote.ends_at > start)
                                        .order_by(orm.CoverageGapNote.starts_at)).all()
            pharmacy = uow.session.scalar(select(orm.SiteSetting.value).where(orm.SiteSetting.key == PHARMACY_NAME))

        def reason(gap: Interval) -> str | None:
            found = [r for a, b, r in notes if a < gap.end and b > gap.start]
            return "；".join(dict.fromkeys(found)) or None

        gaps = sorted([ReportGap("planned", g.start, g.end, reason(g)) for g in planned]
                      + [ReportGap("actual", g.start, g.end, reason(g)) for g in actual.actual_gaps],
                      key=lambda g: (g.start, g.kind))
        report = MonthReport(first, pharmacy or "", self._tz, actual, tuple(gaps),
                             f"{principal.name}（{principal.licence or principal.actor}）", now)
        with self._uow() as uow:
            audit.record(uow, actor=principal.actor, action="coverage.report_signed_off",
                         subject=f"coverage_report:{first.isoformat()[:7]}",
                         details={"sha256": report.sha256, "coverage_pct": actual.coverage_pct, "gaps": len(gaps),
                                  "unexplained": sum(1 for g in gaps if g.reason is None)}, at=now)
            uow.commit()
        return report

    # -- coverage

    def coverage(self, principal: Principal, start: datetime, end: datetime) -> Coverage:
        require(principal, Action.VIEW_COVERAGE)
        return coverage(self.calendar(), self.shifts(start, end), self.presence(start, end), start, end)

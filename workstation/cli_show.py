"""`rxws show PRESCRIPTION` (处方详情): what the window shows of one prescription, on the terminal.

The services decide what may be seen: the pharmacist holding the claim gets the full identity, the
diagnosis history and the earlier prescriptions; anyone else gets the masked name and the prescription
itself. Every opening is audited (``prescription.opened``), whoever asks and however.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, TextIO

from workstation.domain.local_time import shown
from workstation.domain.special_drugs import CATEGORY_NAME_ZH

if TYPE_CHECKING:
    from workstation.services.detail import PrescriptionDetail

EXIT_OK = 0

_SIGNATURE_ZH = {"valid": "验证通过", "missing": "缺少电子签名", "invalid": "验证失败"}
_SEVERITY_ZH = {"block": "拦截", "warn": "警示"}
_STATUS_ZH = {"received": "待审核", "approved": "审核通过", "rejected": "审核不通过", "returned": "退回医师",
              "superseded": "被新版本取代", "withdrawn": "撤回"}
_DECISION_ZH = {"approve": "审核通过", "reject": "审核不通过", "return": "退回医师"}
_KIND_ZH = {"practitioner": "医师", "device": "软件/设备（非医师）", "organization": "机构（非医师）", "other": "非医师",
            "missing": "未填写开方人", "unresolved": "开方人引用无法解析"}
_GENDER_ZH = {"male": "男", "female": "女", "other": "其他", "unknown": "未知"}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("show", help="one prescription as the window shows it: patient, diagnosis history, items, "
                                    "prescriber, signature check, findings (the claim holder sees the full identity)")
    s.add_argument("prescription", metavar="PRESCRIPTION", help="its number (the newest version is shown)")
    s.add_argument("--as", dest="licence", required=True, metavar="LICENCE",
                   help="who looks (password asked, or RXWS_PASSWORD); the opening is audited")
    s.add_argument("--json", action="store_true", help="the same as JSON")


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def as_json(detail: PrescriptionDetail) -> str:
    return json.dumps(dataclasses.asdict(detail), ensure_ascii=False, indent=2, default=_plain)


def _yes(flag: bool | None, yes: str = "是", no: str = "否") -> str:
    return "未知" if flag is None else (yes if flag else no)


def print_detail(d: PrescriptionDetail, out: TextIO) -> None:
    zone = d.time_zone

    def when(moment: datetime | None) -> str:
        return shown(moment, zone) if moment is not None else "未知"

    def line(text: str = "") -> None:
        print(text, file=out)

    line(f"处方 {d.number} 第{d.version}版  状态 {_STATUS_ZH.get(d.status, d.status)}  内容摘要 sha256:{d.content_sha256}")
    line(f"  开具 {when(d.authored_on)}  接收 {when(d.received_at)}")
    if d.holds_claim:
        line("  您持有此处方的认领：显示完整身份、诊断史与既往处方")
    else:
        holder = f"由 {d.claimed_by} 认领" if d.claimed_by else "无人认领"
        line(f"  您未持有认领（{holder}）：身份已遮蔽，诊断史与既往处方不显示")

    p = d.patient
    line()
    line("【患者】")
    age = f"{p.age_years}岁" if p.age_years is not None else "年龄未知"
    line(f"  {p.name or '?'}  {_GENDER_ZH.get(p.gender or '', p.gender or '性别未知')}  {age}"
         + ("  【6岁以下】" if p.under_six else "  【年龄未知：不可审核通过】" if p.under_six is None else ""))
    if p.identity_shown:
        line(f"  出生日期 {p.birth_date or p.birth_date_raw or '未知'}  电话 {p.phone or '无'}  地址 {p.address or '无'}")
    line(f"  体重 {p.weight_kg + ' kg' if p.weight_kg else '未记录'}  过敏 {'、'.join(p.allergies) or '未记录'}")
    line(f"  监护人 {'在场 ' + '、'.join(d.guardian.names) if d.guardian.present else '无'}"
         f"  陪诊医师 {'在场 ' + '、'.join(d.accompanying.names) if d.accompanying.present else '无'}"
         f"  复诊 {_yes(d.follow_up)}")

    line()
    line(f"【诊断史】（{d.diagnosis_count} 条）")
    if d.history_hidden:
        line("  仅认领人可见")
    for dx in d.diagnoses:
        status = "实体医疗机构确诊" if dx.confirmed else "未确诊"
        source = "，".join(x for x in (dx.institution, dx.source_document_type) if x) or "来源未记录"
        sent = "  （随本处方发送）" if dx.in_this_prescription else ""
        line(f"  {dx.recorded or '日期未知'}  {dx.code or '?'} {dx.display or ''}  [{status}] {source}{sent}")

    line()
    line("【药品】")
    for i, item in enumerate(d.items, 1):
        line(f"  {i}. {item.drug}" + "".join(f"  {x}" for x in (item.strength, item.form) if x)
             + ("" if item.in_formulary else "  （不在本院处方集）"))
        usage = "，".join(f"{k} {v}" for k, v in (("用量", item.dose), ("频次", item.frequency), ("途径", item.route),
                                                 ("天数", item.days), ("数量", item.quantity)) if v)
        line(f"     {usage or item.dosage_text or '用法未结构化'}")
        for m in item.marks:
            line(f"     【{CATEGORY_NAME_ZH.get(m.category, m.category)}】依据：{m.evidence}")
        if item.diagnosis_codes:
            matched = ("，匹配确诊 " + "、".join(item.matched_by)) if item.diagnosis_matched else "，未匹配确诊诊断"
            line(f"     诊断 {'、'.join(item.diagnosis_codes)}{matched}")

    r = d.prescriber
    line()
    line("【开方医师】")
    years = f"执业 {r.years_of_practice} 年" if r.years_of_practice is not None else "执业年限未知"
    line(f"  {r.name or '?'}（{_KIND_ZH.get(r.kind, r.kind)}）  执业证号 {r.licence or '无'}  {years}  "
         f"实名认证 {_yes(r.real_name_verified, '已完成', '未完成')}  {r.organization or ''}".rstrip())
    signature = _SIGNATURE_ZH.get(r.signature_status, r.signature_status)
    line(f"  电子签名：{signature}" + (f"（{r.signature_reason}）" if r.signature_reason else ""))

    line()
    line("【审核结果】")
    if not d.result.checked:
        line(f"  未能完成审核（不可审核通过）：{d.result.error or ''}")
    for severity in ("block", "warn"):
        for f in d.findings.get(severity, ()):
            about = f" [{f.item}]" if f.item else ""
            line(f"  【{_SEVERITY_ZH[severity]}】{f.rule_id}{about}：{f.message_zh}")
            for ev in f.evidence:
                line(f"      证据：{ev}")
            line(f"      依据：{f.citation}")
    if d.result.checked and not any(d.findings.values()):
        line("  未发现问题")
    line(f"  {'可以审核通过' if d.result.approvable else '不可审核通过'}（规则集 {d.result.rule_set_version}）")

    if d.intake_notes:
        line()
        line("【接收说明】（未能读取的内容）")
        for note in d.intake_notes:
            line(f"  {note}")

    if d.earlier:
        line()
        line(f"【既往处方】（{len(d.earlier)} 张）")
        for e in d.earlier:
            decided = ""
            if e.decision:
                decided = f"  {_DECISION_ZH.get(e.decision, e.decision)} {e.decided_by or ''} {when(e.decided_at)}"
            line(f"  {e.number} v{e.version}  {when(e.authored_on or e.received_at)}  "
                 f"{_STATUS_ZH.get(e.status, e.status)}  {'、'.join(e.drugs)}{decided}")


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.cli_decisions import login, opened_workstation

    with opened_workstation() as ws:
        principal, _ = login(ws, args.licence)
        detail = ws.detail.open_number(principal, args.prescription)
        if args.json:
            print(as_json(detail), file=out)
        else:
            print_detail(detail, out)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {"show": cmd_show}

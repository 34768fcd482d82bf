"""Make the demo data (演示数据) for a given moment: a throwaway demo CA, physician certificates, signed bundles.

``build_demo(now)`` is what a workstation in demo mode calls when it loads the demo: the prescriptions
are authored minutes before ``now``, and every other date of the case table (birth dates, diagnoses,
years of practice, certificate validity) moves with ``now``'s date, so an age, a three-year rule or an
expired certificate means the same on any day. The demo CA and physician keys live in memory for one
call and are then dropped: the demo CA can be trusted in demo mode only, and nobody can sign another
"demo" prescription with it afterwards. People, drugs and ids come from the case table below and from
generators seeded per case. ``python -m resources.demo.generate --out DIR [--now ISO]`` writes one set
to files, for people who want to look at them or feed them to ``rxws check``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import csv
import datetime as dt
import hashlib
import io
import json
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from workstation.adapters.jws import JwsError, leaf_serial_number, sign_detached, verify_detached
from workstation.adapters.pki import generate_key, issue_pharmacist_certificate
from workstation.domain.canonical import prescription_content

Json = dict[str, Any]

README: Final = Path(__file__).resolve().parent / "README.md"
TZ: Final = dt.timezone(dt.timedelta(hours=8))
# The day the case table's dates are written for; a demo made for another day moves them all by the
# same number of days (``now``'s date at +08:00 minus this day).
DEMO_DAY: Final = dt.date(2026, 12, 1)
SEED: Final = "rxws-demo-2026-12-01"
# The prescriptions are authored in this window before ``now`` (never before midnight at +08:00: a
# prescription is valid on the calendar day it is written, so the demo must be written "today").
AUTHORED_SPAN: Final = dt.timedelta(minutes=90)
AUTHORED_LAST: Final = dt.timedelta(minutes=2)

RXWS: Final = "https://rxws.example.org/fhir"
LICENCE_SYSTEM: Final = f"{RXWS}/sid/physician-license"
PRESCRIPTION_SYSTEM: Final = f"{RXWS}/sid/prescription"
DRUG_SYSTEM: Final = f"{RXWS}/CodeSystem/drug"
DIAGNOSIS_SOURCE_SYSTEM: Final = f"{RXWS}/CodeSystem/diagnosis-source"
REAL_NAME_EXT: Final = f"{RXWS}/StructureDefinition/real-name-verified"
SKIN_TEST_EXT: Final = f"{RXWS}/StructureDefinition/skin-test-result"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
ICD10_CN: Final = f"{RXWS}/CodeSystem/icd-10-cn"
ATC: Final = "http://www.whocc.no/atc"
SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
GTS: Final = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
ROLE_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PARTICIPATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CN_ID_SYSTEM: Final = "urn:oid:2.16.156.10011.1.1"  # 居民身份证号码
PERMIT_SYSTEM: Final = f"{RXWS}/sid/hk-macao-travel-permit"  # 港澳居民来往内地通行证

# The rule ids of shared/reference/review-rules.md with their severities, copied so that the demo can
# be checked (and the manifest written) where that document is not at hand.
RULE_SEVERITY: Final[Mapping[str, Literal["block", "warn"]]] = {
    "special_drug.narcotic": "block",
    "special_drug.psychotropic": "block",
    "special_drug.other_restricted": "block",
    "special_drug.online_sale_prohibited": "warn",
    "pediatric.no_guardian": "block",
    "pediatric.no_accompanying_physician": "block",
    "patient.age_unknown": "block",
    "visit.not_follow_up": "block",
    "diagnosis.missing": "block",
    "diagnosis.not_confirmed": "block",
    "prescriber.not_physician": "block",
    "prescriber.not_verified": "block",
    "prescriber.insufficient_experience": "block",
    "signature.missing": "block",
    "signature.invalid": "block",
    "dispensing.before_prescription": "block",
    "validity.expired": "block",
    "validity.too_long": "block",
    "supply.over_limit_unjustified": "block",
    "supply.over_limit_justified": "warn",
    "supply.over_long_term_limit": "block",
    "catalog.unknown_drug": "block",
    "allergy.match": "block",
    "skin_test.missing": "block",
    "skin_test.positive": "block",
    "completeness.missing_field": "block",
    "items.too_many": "warn",
    "dose.over_max": "warn",
    "therapy.duplicate": "warn",
    "interaction.major": "warn",
}

# Spelt apart so that this file itself passes the scan for key material it applies to its output.
_KEY_PEM_MARKER: Final = " ".join(("PRIVATE", "KEY"))


class DemoDataError(RuntimeError):
    """The demo data came out wrong (invalid FHIR, a signature that does not behave, a rule uncovered)."""


# =========================================================================== the formulary

# The import format of shared/examples/formulary.csv and its rows, with two changes for the demo:
# amoxicillin needs a skin test (Chinese labels say 用前必须做青霉素皮肤试验), and penicillin V tablets
# (D0301) are added so the skin-test cases need no injection, which online sale would bar anyway.
FORMULARY_CSV: Final = """\
code,name_zh,name_en,generic_zh,generic_en,atc,dosage_form,strength,special_category,max_daily_dose_mg,skin_test_required,ingredients_zh,ingredients_en
D0001,苯磺酸氨氯地平片,Amlodipine Besylate Tablets,氨氯地平,amlodipine,C08CA01,片剂,5mg,,10,no,氨氯地平,amlodipine
D0002,盐酸二甲双胍片,Metformin Hydrochloride Tablets,二甲双胍,metformin,A10BA02,片剂,0.5g,,2550,no,二甲双胍,metformin
D0003,阿托伐他汀钙片,Atorvastatin Calcium Tablets,阿托伐他汀,atorvastatin,C10AA05,片剂,20mg,,80,no,阿托伐他汀,atorvastatin
D0004,阿莫西林胶囊,Amoxicillin Capsules,阿莫西林,amoxicillin,J01CA04,胶囊剂,0.25g,,4000,yes,阿莫西林,amoxicillin
D0005,对乙酰氨基酚混悬滴剂,Paracetamol Oral Suspension Drops,对乙酰氨基酚,paracetamol,N02BE01,混悬滴剂,100mg/ml,,,no,对乙酰氨基酚,paracetamol
D0006,布洛芬混悬液,Ibuprofen Oral Suspension,布洛芬,ibuprofen,M01AE01,混悬液,20mg/ml,,2400,no,布洛芬,ibuprofen
D0007,氯雷他定片,Loratadine Tablets,氯雷他定,loratadine,R06AX13,片剂,10mg,,10,no,氯雷他定,loratadine
D0008,缬沙坦胶囊,Valsartan Capsules,缬沙坦,valsartan,C09CA03,胶囊剂,80mg,,320,no,缬沙坦,valsartan
D0009,格列美脲片,Glimepiride Tablets,格列美脲,glimepiride,A10BB12,片剂,2mg,,8,no,格列美脲,glimepiride
D0010,奥美拉唑肠溶胶囊,Omeprazole Enteric-coated Capsules,奥美拉唑,omeprazole,A02BC01,胶囊剂,20mg,,120,no,奥美拉唑,omeprazole
D0011,孟鲁司特钠咀嚼片,Montelukast Sodium Chewable Tablets,孟鲁司特,montelukast,R03DC03,咀嚼片,4mg,,10,no,孟鲁司特,montelukast
D0012,左甲状腺素钠片,Levothyroxine Sodium Tablets,左甲状腺素,levothyroxine,H03AA01,片剂,50ug,,,no,左甲状腺素,levothyroxine
D0013,盐酸纳洛酮注射液,Naloxone Hydrochloride Injection,纳洛酮,naloxone,V03AB15,注射剂,0.4mg,,,no,纳洛酮,naloxone
D0014,美沙拉秦肠溶片,Mesalazine Enteric-coated Tablets,美沙拉秦,mesalazine,A07EC02,片剂,0.5g,,4000,no,美沙拉秦,mesalazine
D0015,吗替麦考酚酯胶囊,Mycophenolate Mofetil Capsules,吗替麦考酚酯,mycophenolate mofetil,L04AA06,胶囊剂,0.25g,,3000,no,吗替麦考酚酯,mycophenolate mofetil
D0016,氢溴酸西酞普兰片,Citalopram Hydrobromide Tablets,西酞普兰,citalopram,N06AB04,片剂,20mg,,40,no,西酞普兰,citalopram
D0017,盐酸舍曲林片,Sertraline Hydrochloride Tablets,舍曲林,sertraline,N06AB06,片剂,50mg,,200,no,舍曲林,sertraline
D0018,富马酸喹硫平片,Quetiapine Fumarate Tablets,喹硫平,quetiapine,N05AH04,片剂,100mg,,800,no,喹硫平,quetiapine
D0019,奥氮平片,Olanzapine Tablets,奥氮平,olanzapine,N05AH03,片剂,5mg,,20,no,奥氮平,olanzapine
D0020,盐酸丁螺环酮片,Buspirone Hydrochloride Tablets,丁螺环酮,buspirone,N05BE01,片剂,5mg,,60,no,丁螺环酮,buspirone
D0021,盐酸曲美他嗪片,Trimetazidine Hydrochloride Tablets,曲美他嗪,trimetazidine,C01EB15,片剂,20mg,,60,no,曲美他嗪,trimetazidine
D0022,硝苯地平控释片,Nifedipine Controlled-release Tablets,硝苯地平,nifedipine,C08CA05,控释片,30mg,,120,no,硝苯地平,nifedipine
D0023,注射用青霉素钠,Benzylpenicillin Sodium for Injection,青霉素,benzylpenicillin,J01CE01,注射剂,80万单位,,,yes,青霉素,benzylpenicillin
D0024,头孢克洛干混悬剂,Cefaclor for Suspension,头孢克洛,cefaclor,J01DC04,干混悬剂,0.125g,,4000,no,头孢克洛,cefaclor
D0025,阿司匹林肠溶片,Aspirin Enteric-coated Tablets,阿司匹林,acetylsalicylic acid,B01AC06,片剂,100mg,,,no,阿司匹林,acetylsalicylic acid
D0026,硫酸氢氯吡格雷片,Clopidogrel Bisulfate Tablets,氯吡格雷,clopidogrel,B01AC04,片剂,75mg,,75,no,氯吡格雷,clopidogrel
D0027,华法林钠片,Warfarin Sodium Tablets,华法林,warfarin,B01AA03,片剂,2.5mg,,,no,华法林,warfarin
D0028,辛伐他汀片,Simvastatin Tablets,辛伐他汀,simvastatin,C10AA01,片剂,20mg,,40,no,辛伐他汀,simvastatin
D0029,克拉霉素片,Clarithromycin Tablets,克拉霉素,clarithromycin,J01FA09,片剂,0.25g,,1000,no,克拉霉素,clarithromycin
D0101,盐酸羟考酮缓释片,Oxycodone Hydrochloride Prolonged-release Tablets,羟考酮,oxycodone,N02AA05,缓释片,10mg,narcotic,,no,羟考酮,oxycodone
D0102,氨酚羟考酮片,Oxycodone and Acetaminophen Tablets,氨酚羟考酮,oxycodone and paracetamol,N02AJ17,片剂,5mg/325mg,psychotropic_2,,no,羟考酮;对乙酰氨基酚,oxycodone;paracetamol
D0103,芬太尼透皮贴剂,Fentanyl Transdermal Patch,芬太尼,fentanyl,N02AB03,贴剂,4.2mg,narcotic,,no,芬太尼,fentanyl
D0104,硫酸吗啡缓释片,Morphine Sulfate Sustained-release Tablets,吗啡,morphine,N02AA01,缓释片,30mg,narcotic,,no,吗啡,morphine
D0105,艾司唑仑片,Estazolam Tablets,艾司唑仑,estazolam,N05CD04,片剂,1mg,psychotropic_2,,no,艾司唑仑,estazolam
D0106,阿普唑仑片,Alprazolam Tablets,阿普唑仑,alprazolam,N05BA12,片剂,0.4mg,psychotropic_2,,no,阿普唑仑,alprazolam
D0107,酒石酸唑吡坦片,Zolpidem Tartrate Tablets,唑吡坦,zolpidem,N05CF02,片剂,10mg,psychotropic_2,,no,唑吡坦,zolpidem
D0108,盐酸哌甲酯缓释片,Methylphenidate Hydrochloride Extended-release Tablets,哌甲酯,methylphenidate,N06BA04,缓释片,18mg,psychotropic_1,,no,哌甲酯,methylphenidate
D0109,盐酸曲马多缓释片,Tramadol Hydrochloride Sustained-release Tablets,曲马多,tramadol,N02AX02,缓释片,100mg,psychotropic_2,,no,曲马多,tramadol
D0110,复方磷酸可待因口服溶液,Compound Codeine Phosphate Oral Solution,复方磷酸可待因,codeine compound,R05DA20,口服溶液,100ml,psychotropic_2,,no,可待因;愈创木酚甘油醚,codeine;guaifenesin
D0111,硫酸阿托品片,Atropine Sulfate Tablets,阿托品,atropine,A03BA01,片剂,0.3mg,toxic,,no,阿托品,atropine
D0112,地西泮片,Diazepam Tablets,地西泮,diazepam,N05BA01,片剂,2.5mg,psychotropic_2,,no,地西泮,diazepam
D0113,氯硝西泮片,Clonazepam Tablets,氯硝西泮,clonazepam,N03AE01,片剂,2mg,psychotropic_2,,no,氯硝西泮,clonazepam
D0114,苯巴比妥片,Phenobarbital Tablets,苯巴比妥,phenobarbital,N03AA02,片剂,30mg,psychotropic_2,,no,苯巴比妥,phenobarbital
D0115,盐酸麻黄碱滴鼻液,Ephedrine Hydrochloride Nasal Drops,麻黄碱,ephedrine,R01AA03,滴鼻剂,1%,precursor,,no,麻黄碱,ephedrine
D0201,卡托普利片,Captopril Tablets,卡托普利,captopril,C09AA01,片剂,25mg,,150,no,卡托普利,captopril
D0202,马来酸依那普利片,Enalapril Maleate Tablets,依那普利,enalapril,C09AA02,片剂,10mg,,40,no,依那普利,enalapril
D0203,酒石酸美托洛尔片,Metoprolol Tartrate Tablets,美托洛尔,metoprolol,C07AB02,片剂,25mg,,400,no,美托洛尔,metoprolol
D0204,氢氯噻嗪片,Hydrochlorothiazide Tablets,氢氯噻嗪,hydrochlorothiazide,C03AA03,片剂,25mg,,100,no,氢氯噻嗪,hydrochlorothiazide
D0205,阿卡波糖片,Acarbose Tablets,阿卡波糖,acarbose,A10BF01,片剂,50mg,,300,no,阿卡波糖,acarbose
D0206,格列齐特缓释片,Gliclazide Modified-release Tablets,格列齐特,gliclazide,A10BB09,缓释片,30mg,,120,no,格列齐特,gliclazide
D0207,瑞舒伐他汀钙片,Rosuvastatin Calcium Tablets,瑞舒伐他汀,rosuvastatin,C10AA07,片剂,10mg,,20,no,瑞舒伐他汀,rosuvastatin
D0208,单硝酸异山梨酯缓释片,Isosorbide Mononitrate SR Tablets,单硝酸异山梨酯,isosorbide mononitrate,C01DA14,缓释片,40mg,,120,no,单硝酸异山梨酯,isosorbide mononitrate
D0209,头孢呋辛酯片,Cefuroxime Axetil Tablets,头孢呋辛,cefuroxime,J01DC02,片剂,0.25g,,1000,no,头孢呋辛,cefuroxime
D0210,左氧氟沙星片,Levofloxacin Tablets,左氧氟沙星,levofloxacin,J01MA12,片剂,0.5g,,750,no,左氧氟沙星,levofloxacin
D0211,蒙脱石散,Montmorillonite Powder,蒙脱石,diosmectite,A07BC05,散剂,3g,,,no,蒙脱石,diosmectite
D0212,盐酸氨溴索口服溶液,Ambroxol Hydrochloride Oral Solution,氨溴索,ambroxol,R05CB06,口服溶液,15mg/5ml,,120,no,氨溴索,ambroxol
D0213,沙丁胺醇气雾剂,Salbutamol Aerosol,沙丁胺醇,salbutamol,R03AC02,气雾剂,100ug/揿,,,no,沙丁胺醇,salbutamol
D0214,布地奈德吸入气雾剂,Budesonide Inhalation Aerosol,布地奈德,budesonide,R03BA02,气雾剂,200ug/揿,,,no,布地奈德,budesonide
D0215,别嘌醇片,Allopurinol Tablets,别嘌醇,allopurinol,M04AA01,片剂,0.1g,,900,no,别嘌醇,allopurinol
D0216,碳酸钙D3片,Calcium Carbonate and Vitamin D3 Tablets,碳酸钙维D3,calcium carbonate and colecalciferol,A12AX,片剂,600mg,,,no,碳酸钙维D3,calcium carbonate and colecalciferol
D0217,甲钴胺片,Mecobalamin Tablets,甲钴胺,mecobalamin,B03BA05,片剂,0.5mg,,1.5,no,甲钴胺,mecobalamin
D0218,盐酸帕罗西汀片,Paroxetine Hydrochloride Tablets,帕罗西汀,paroxetine,N06AB05,片剂,20mg,,50,no,帕罗西汀,paroxetine
D0219,利培酮片,Risperidone Tablets,利培酮,risperidone,N05AX08,片剂,1mg,,16,no,利培酮,risperidone
D0220,丙戊酸钠缓释片,Sodium Valproate SR Tablets,丙戊酸钠,valproic acid,N03AG01,缓释片,0.5g,,2500,no,丙戊酸钠,valproic acid
D0221,卡马西平片,Carbamazepine Tablets,卡马西平,carbamazepine,N03AF01,片剂,0.1g,,1200,no,卡马西平,carbamazepine
D0222,多潘立酮片,Domperidone Tablets,多潘立酮,domperidone,A03FA03,片剂,10mg,,30,no,多潘立酮,domperidone
D0223,枸橼酸莫沙必利片,Mosapride Citrate Tablets,莫沙必利,mosapride,A03FA,片剂,5mg,,15,no,莫沙必利,mosapride
D0224,雷贝拉唑钠肠溶片,Rabeprazole Sodium Enteric-coated Tablets,雷贝拉唑,rabeprazole,A02BC04,片剂,10mg,,40,no,雷贝拉唑,rabeprazole
D0225,吲达帕胺缓释片,Indapamide SR Tablets,吲达帕胺,indapamide,C03BA11,缓释片,1.5mg,,1.5,no,吲达帕胺,indapamide
D0226,厄贝沙坦片,Irbesartan Tablets,厄贝沙坦,irbesartan,C09CA04,片剂,150mg,,300,no,厄贝沙坦,irbesartan
D0227,西格列汀片,Sitagliptin Tablets,西格列汀,sitagliptin,A10BH01,片剂,100mg,,100,no,西格列汀,sitagliptin
D0228,盐酸特拉唑嗪片,Terazosin Hydrochloride Tablets,特拉唑嗪,terazosin,G04CA03,片剂,2mg,,20,no,特拉唑嗪,terazosin
D0229,非那雄胺片,Finasteride Tablets,非那雄胺,finasteride,G04CB01,片剂,5mg,,5,no,非那雄胺,finasteride
D0230,盐酸羟考酮注射液,Oxycodone Hydrochloride Injection,羟考酮,oxycodone,N02AA05,注射剂,10mg/ml,narcotic,,no,羟考酮,oxycodone
D0231,劳拉西泮片,Lorazepam Tablets,劳拉西泮,lorazepam,N05BA06,片剂,0.5mg,psychotropic_2,,no,劳拉西泮,lorazepam
D0232,佐匹克隆片,Zopiclone Tablets,佐匹克隆,zopiclone,N05CF01,片剂,7.5mg,psychotropic_2,,no,佐匹克隆,zopiclone
D0301,青霉素V钾片,Phenoxymethylpenicillin Potassium Tablets,青霉素V,phenoxymethylpenicillin,J01CE02,片剂,0.25g,,3000,yes,青霉素V,phenoxymethylpenicillin
"""

# What the dispensing labels print of some drugs (the formulary's optional label columns): storage,
# warnings, and what one package holds (so 14 tablets of a 7-tablet box make two labels, 1/2 and 2/2).
LABEL_FACTS: Final[Mapping[str, tuple[str, str, int | None, str]]] = {
    "D0001": ("遮光，密封保存", "", 7, "盒"),
    "D0002": ("密封保存", "餐中或餐后服用", 30, "盒"),
    "D0003": ("遮光，密封保存", "", 7, "盒"),
    "D0004": ("密封，干燥处保存", "青霉素过敏者禁用", 24, "盒"),
    "D0005": ("密封，阴凉处保存", "用前摇匀", 1, "瓶"),
    "D0006": ("密封保存", "用前摇匀", 1, "瓶"),
    "D0007": ("遮光，密封保存", "", 6, "盒"),
    "D0008": ("遮光，密封保存", "", 7, "盒"),
    "D0010": ("遮光，密封保存", "整粒吞服，不可咀嚼或压碎", 14, "盒"),
    "D0011": ("遮光，密封保存", "嚼碎后服用", 5, "盒"),
    "D0012": ("遮光，密封保存", "早餐前半小时空腹服用", 100, "瓶"),
    "D0022": ("遮光，密封保存", "整片吞服，不可掰开或嚼碎", 7, "盒"),
    "D0024": ("密封，干燥处保存", "用温开水溶解摇匀后服用", 6, "袋"),
    "D0025": ("密封，干燥处保存", "整片吞服", 30, "盒"),
    "D0027": ("遮光，密封保存", "服药期间定期监测凝血指标", 60, "瓶"),
    "D0211": ("密封，干燥处保存", "与其他药物间隔1小时服用", 10, "袋"),
    "D0212": ("遮光，密封保存", "", 1, "瓶"),
    "D0213": ("避免受热与阳光直射，不可冷冻", "用前摇匀", 1, "支"),
    "D0214": ("避免受热，不可冷冻", "用后漱口", 1, "支"),
}


def _with_label_columns(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*rows[0], "storage", "label_warnings", "package_size", "package_unit"])
    for row in rows[1:]:
        storage, warnings, size, unit = LABEL_FACTS.get(row[0], ("", "", None, ""))
        writer.writerow([*row, storage, warnings, "" if size is None else str(size), unit])
    return out.getvalue()


LABELLED_FORMULARY_CSV: Final = _with_label_columns(FORMULARY_CSV)

# A drug the demo pharmacy does not stock: it must stay out of FORMULARY_CSV (catalog.unknown_drug).
UNLISTED_DRUGS: Final[Mapping[str, tuple[str, str]]] = {
    "dapagliflozin": ("达格列净片", "A10BK01"),
}


@dataclass(frozen=True, slots=True)
class Drug:
    code: str | None
    name_zh: str
    atc: str | None
    generic_en: str


def _formulary() -> dict[str, Drug]:
    rows = csv.DictReader(io.StringIO(FORMULARY_CSV))
    return {r["code"]: Drug(r["code"], r["name_zh"], r["atc"] or None, r["generic_en"]) for r in rows}


FORMULARY: Final = _formulary()


def _drug(key: str) -> Drug:
    if key in FORMULARY:
        return FORMULARY[key]
    name_zh, atc = UNLISTED_DRUGS[key]
    return Drug(None, name_zh, atc, key)


# =========================================================================== people and places


@dataclass(frozen=True, slots=True)
class Physician:
    key: str
    name: str
    gender: str
    licence: str  # 执业证书编码, also the subject serialNumber of the physician's certificate
    practice_start: str
    verified_at: str | None  # real-name verification (实名认证); None = never verified
    specialty: tuple[str, str, str]  # SNOMED CT code, English display, Chinese department
    has_certificate: bool = True


PHYSICIANS: Final[Mapping[str, Physician]] = {p.key: p for p in (
    Physician("zhang", "张志远", "male", "131310000210457", "2008-08-01", "2025-12-15T10:20:00+08:00",
              ("419192003", "Internal medicine", "内科")),
    Physician("liu", "刘晓燕", "female", "131310000318862", "2011-09-01", "2026-01-08T14:05:00+08:00",
              ("394537008", "Paediatric specialty", "儿科")),
    Physician("chen", "陈伟", "male", "131310000427715", "2013-07-01", "2026-02-20T09:40:00+08:00",
              ("418112009", "Respiratory medicine", "呼吸与危重症医学科")),
    Physician("zhou", "周敏", "female", "131310000536209", "2012-03-01", "2025-11-30T16:30:00+08:00",
              ("394583002", "Endocrinology", "内分泌科")),
    # Independent practice since 2024-09: not yet 3 years on the demo day (2 years 3 months).
    Physician("yang", "杨帆", "male", "131310000645118", "2024-09-01", "2026-03-02T11:00:00+08:00",
              ("394814009", "General practice", "全科医学科")),
    # Joined the platform but never completed real-name verification.
    Physician("ma", "马丽", "female", "131310000754306", "2010-07-01", None,
              ("419192003", "Internal medicine", "内科")),
    # The accompanying paediatrician (陪伴医师) of the child visits: she takes part, she does not sign.
    Physician("he", "何静", "female", "131310000863027", "2009-07-01", "2025-10-10T09:00:00+08:00",
              ("394537008", "Paediatric specialty", "儿科"), has_certificate=False),
)}

INTERNET_HOSPITAL: Final = ("org-ih", "浦东示范医院互联网医院")

HOSPITALS: Final[Mapping[str, str]] = {
    "pudong": "上海市浦东新区人民医院",
    "shfirst": "上海市第一人民医院",
    "zhongshan": "复旦大学附属中山医院",
    "ruijin": "上海交通大学医学院附属瑞金医院",
    "sixth": "上海市第六人民医院",
    "children": "上海市儿童医院",
    "fudan-children": "复旦大学附属儿科医院",
    "pulmonary": "同济大学附属上海市肺科医院",
    "zju1": "浙江大学医学院附属第一医院",
    "jsph": "江苏省人民医院",
    "suzhou": "苏州市立医院",
    "chaoyang": "首都医科大学附属北京朝阳医院",
    "sysu1": "中山大学附属第一医院",
    "whu": "武汉大学人民医院",
    "huaxi": "四川大学华西医院",
}

# (province-level division, city, district, administrative division code, streets)
CITIES: Final[Mapping[str, tuple[str, str, str, str, tuple[str, ...]]]] = {
    "sh-pudong": ("上海市", "上海市", "浦东新区", "310115", ("张江路", "世纪大道", "锦绣路", "东方路", "杨高南路")),
    "sh-xuhui": ("上海市", "上海市", "徐汇区", "310104", ("漕溪北路", "天钥桥路", "龙华中路", "宜山路")),
    "sh-minhang": ("上海市", "上海市", "闵行区", "310112", ("七莘路", "都市路", "莘松路")),
    "bj-chaoyang": ("北京市", "北京市", "朝阳区", "110105", ("朝阳北路", "望京街", "劲松路")),
    "hz-xihu": ("浙江省", "杭州市", "西湖区", "330106", ("文三路", "天目山路", "古墩路")),
    "nj-gulou": ("江苏省", "南京市", "鼓楼区", "320106", ("中山北路", "湖南路", "草场门大街")),
    "sz-gusu": ("江苏省", "苏州市", "姑苏区", "320508", ("人民路", "干将西路", "十全街")),
    "gz-tianhe": ("广东省", "广州市", "天河区", "440106", ("天河北路", "体育西路", "黄埔大道西")),
    "cd-wuhou": ("四川省", "成都市", "武侯区", "510107", ("人民南路", "科华北路", "武侯祠大街")),
    "wh-wuchang": ("湖北省", "武汉市", "武昌区", "420106", ("中北路", "友谊大道", "武珞路")),
}

# ICD-10 code -> (code system, Chinese name). E11.900 and J45.900 are written in the Chinese clinical
# edition (国家临床版), as Chinese hospitals send them; the rest in WHO ICD-10.
DIAGNOSES: Final[Mapping[str, tuple[str, str]]] = {
    "I10": (ICD10, "原发性高血压"),
    "E11.900": (ICD10_CN, "2型糖尿病"),
    "J45.900": (ICD10_CN, "支气管哮喘"),
    "E03.9": (ICD10, "甲状腺功能减退症"),
    "E78.5": (ICD10, "高脂血症"),
    "I25.1": (ICD10, "动脉粥样硬化性心脏病"),
    "K21.9": (ICD10, "胃食管反流病"),
    "M81.0": (ICD10, "绝经后骨质疏松"),
    "C34.9": (ICD10, "肺恶性肿瘤（癌性疼痛）"),
    "F51.0": (ICD10, "非器质性失眠症"),
    "I48.9": (ICD10, "心房颤动"),
    "J06.9": (ICD10, "急性上呼吸道感染"),
    "J30.4": (ICD10, "变应性鼻炎"),
    "J03.9": (ICD10, "急性扁桃体炎"),
    "J20.9": (ICD10, "急性支气管炎"),
    "J31.0": (ICD10, "慢性鼻炎"),
    "M10.9": (ICD10, "痛风"),
    "N40": (ICD10, "前列腺增生"),
}

SOURCE_DOCUMENTS: Final[Mapping[str, str]] = {
    "outpatient-record": "门诊病历",
    "inpatient-record": "住院病历",
    "discharge-summary": "出院小结",
    "diagnosis-certificate": "诊断证明",
}

# GTS code -> its Chinese wording in the patient instructions
TIMINGS: Final[Mapping[str, str]] = {
    "QD": "每日1次", "BID": "每日2次", "TID": "每日3次", "QID": "每日4次",
    "Q8H": "每8小时1次", "Q12H": "每12小时1次", "QN": "每晚1次", "HS": "睡前1次",
}
# dose unit as written -> (UCUM code, Chinese unit)
UNITS: Final[Mapping[str, tuple[str, str]]] = {
    "片": ("{tbl}", "片"), "粒": ("{cap}", "粒"), "mL": ("mL", "毫升"), "揿": ("{puff}", "揿"), "滴": ("[drp]", "滴"),
}
ROUTES: Final[Mapping[str, tuple[str, str, str]]] = {
    "oral": ("26643006", "Oral route", "口服"),
    "inhaled": ("447694001", "Respiratory tract route", "吸入"),
    "nasal": ("46713006", "Nasal route", "滴鼻"),
}

ALLERGENS: Final[Mapping[str, tuple[str, str, str]]] = {
    "aspirin": ("387458008", "Aspirin", "阿司匹林"),
}
ALLERGY_RECORDED: Final = "2019-04-02"


@dataclass(frozen=True, slots=True)
class Relative:
    """A person related to the patient; ``role`` is a v3-RoleCode (MTH, FTH, GRMTH …)."""

    name: str
    gender: str
    role: str
    role_zh: str
    takes_part: bool = True


@dataclass(frozen=True, slots=True)
class PatientSpec:
    name: str
    gender: Literal["male", "female"]
    birth: str  # full date, or a partial one for the unknown-age case
    city: str
    weight_kg: float | None = None
    allergy: str | None = None
    relatives: tuple[Relative, ...] = ()


@dataclass(frozen=True, slots=True)
class Dx:
    """A diagnosis in the patient's history; ``status`` other than confirmed has no source document."""

    code: str
    recorded: str
    hospital: str
    source: str = "outpatient-record"
    status: Literal["confirmed", "provisional"] = "confirmed"


@dataclass(frozen=True, slots=True)
class Rx:
    """One item (药品条目)."""

    drug: str  # formulary code, or a key of UNLISTED_DRUGS
    reason: str | None  # an ICD-10 code of DIAGNOSES; None = the item names no diagnosis
    dose: int
    unit: str
    timing: str | None
    days: int
    quantity: int
    quantity_unit: str
    route: str = "oral"
    text: str | None = None  # the instructions, when the generated wording would not do
    prn_max_per_day: int | None = None  # as needed, at most this many times a day (timing.repeat)
    continuous: bool = False  # 长期处方
    note: str | None = None
    skin_test: Literal["negative", "positive"] | None = None
    validity_days: int | None = None  # an annotated validity, in calendar days from authoredOn
    instructions_only: bool = False  # "遵医嘱": no dose and no frequency (a completeness gap)


@dataclass(frozen=True, slots=True)
class Case:
    nn: int
    slug: str
    zh: str
    en: str
    expect: tuple[str, ...]
    patient: PatientSpec
    prescriber: str  # a key of PHYSICIANS, or "device" (an AI prescribing assistant)
    diagnoses: tuple[Dx, ...]
    items: tuple[Rx, ...]
    tolerate: tuple[str, ...] = ()
    follow_up: bool = True
    accompanying: bool = False
    signature: Literal["signed", "missing", "tampered"] = "signed"
    signer: str | None = None  # a key of the signing material when it is not the prescriber's own
    dispensed_before: bool = False
    authored: dt.datetime | None = None  # default: minutes before ``now``, a little after the previous case

    @property
    def file_name(self) -> str:
        return f"{self.nn:02d}-{self.slug}.json"

    @property
    def approvable(self) -> bool:
        return all(RULE_SEVERITY[r] == "warn" for r in self.expect)


AMLODIPINE_7D: Final = Rx("D0001", "I10", 1, "片", "QD", 7, 7, "片")
METFORMIN_7D: Final = Rx("D0002", "E11.900", 1, "片", "BID", 7, 14, "片")
ATORVASTATIN_7D: Final = Rx("D0003", "E78.5", 1, "片", "QN", 7, 7, "片")
HTN: Final = Dx("I10", "2026-09-18", "pudong")

CASES: Final[tuple[Case, ...]] = (
    # ------------------------------------------------------------------ clean chronic follow-ups
    Case(1, "htn-follow-up", "高血压复诊，氨氯地平联合缬沙坦，线下确诊，签名有效。",
         "Hypertension follow-up, amlodipine with valsartan; confirmed offline diagnosis, valid signature.",
         (), PatientSpec("陈建华", "male", "1958-04-12", "sh-pudong"), "zhang", (HTN,),
         (AMLODIPINE_7D, Rx("D0008", "I10", 1, "粒", "QD", 7, 7, "粒"))),
    Case(2, "t2dm-long-term", "2型糖尿病复诊，长期处方4周（二甲双胍、格列美脲），出院小结确诊。",
         "Type 2 diabetes follow-up, a 4-week long-term prescription (metformin, glimepiride); discharge summary.",
         (), PatientSpec("王秀兰", "female", "1961-11-03", "sh-xuhui"), "zhou",
         (Dx("E11.900", "2026-06-20", "ruijin", "discharge-summary"),),
         (Rx("D0002", "E11.900", 1, "片", "BID", 28, 56, "片", continuous=True),
          Rx("D0009", "E11.900", 1, "片", "QD", 28, 28, "片", text="口服，每日1次，早餐时服1片", continuous=True))),
    Case(3, "child-asthma", "5岁儿童哮喘复诊：母亲与陪伴儿科医师均参与，孟鲁司特钠咀嚼片。",
         "Asthma follow-up of a 5-year-old: mother and an accompanying paediatrician took part; montelukast.",
         (), PatientSpec("李梓萱", "female", "2021-08-16", "sh-minhang", weight_kg=19.5,
                relatives=(Relative("周婷", "female", "MTH", "母亲"),)), "liu",
         (Dx("J45.900", "2026-10-12", "children"),),
         (Rx("D0011", "J45.900", 1, "片", "QN", 7, 7, "片", text="每晚睡前嚼服1片"),), accompanying=True),
    Case(4, "adult-asthma", "成人哮喘复诊，长期处方30天：布地奈德吸入维持，沙丁胺醇按需使用。",
         "Adult asthma follow-up, 30-day long-term prescription: budesonide maintenance, salbutamol as needed.",
         (), PatientSpec("刘洋", "male", "1988-02-27", "hz-xihu"), "chen", (Dx("J45.900", "2026-08-05", "zju1"),),
         (Rx("D0214", "J45.900", 1, "揿", "BID", 30, 1, "支", route="inhaled", continuous=True,
             text="吸入，每日2次，每次1揿，用后漱口"),
          Rx("D0213", "J45.900", 2, "揿", None, 30, 1, "支", route="inhaled", prn_max_per_day=4, continuous=True,
             text="喘息发作时吸入1～2揿，每日不超过4次"))),
    Case(5, "hypothyroidism", "甲状腺功能减退复诊，左甲状腺素钠长期处方8周。",
         "Hypothyroidism follow-up, levothyroxine as an 8-week long-term prescription.",
         (), PatientSpec("孙丽娟", "female", "1975-06-30", "nj-gulou"), "zhou",
         (Dx("E03.9", "2026-07-14", "jsph", "diagnosis-certificate"),),
         (Rx("D0012", "E03.9", 1, "片", "QD", 56, 56, "片", text="每日早餐前30分钟空腹口服1片", continuous=True),)),
    Case(6, "amoxicillin-skin-test-negative", "急性扁桃体炎复诊，阿莫西林皮试阴性，可以调配。",
         "Acute tonsillitis follow-up, amoxicillin with a negative penicillin skin test.",
         (), PatientSpec("郑浩", "male", "1993-09-09", "sz-gusu"), "zhang", (Dx("J03.9", "2026-11-29", "suzhou"),),
         (Rx("D0004", "J03.9", 2, "粒", "TID", 5, 30, "粒", skin_test="negative"),)),
    # ------------------------------------------------------------------ special drugs
    Case(7, "narcotic-morphine", "肺癌癌痛，硫酸吗啡缓释片：麻醉药品不得在线开具。",
         "Cancer pain, morphine sustained-release tablets: narcotic drugs may not be prescribed online.",
         ("special_drug.narcotic",), PatientSpec("黄国庆", "male", "1950-01-22", "sh-pudong"), "chen",
         (Dx("C34.9", "2026-10-08", "pulmonary", "discharge-summary"),),
         (Rx("D0104", "C34.9", 1, "片", "Q12H", 7, 14, "片"),)),
    Case(8, "psychotropic-zolpidem", "失眠，酒石酸唑吡坦片：第二类精神药品不得在线开具。",
         "Insomnia, zolpidem: a category II psychotropic drug may not be prescribed online.",
         ("special_drug.psychotropic",), PatientSpec("吴静", "female", "1982-12-05", "wh-wuchang"), "zhang",
         (Dx("F51.0", "2026-10-20", "whu"),), (Rx("D0107", "F51.0", 1, "片", "HS", 7, 7, "片"),)),
    Case(9, "precursor-ephedrine", "慢性鼻炎，盐酸麻黄碱滴鼻液：药品类易制毒化学品单方制剂，属其他特殊管理药品。",
         "Chronic rhinitis, ephedrine nasal drops: a single-ingredient precursor chemical (other special management).",
         ("special_drug.other_restricted",), PatientSpec("林志强", "male", "1979-03-14", "gz-tianhe"), "chen",
         (Dx("J31.0", "2026-11-02", "sysu1"),),
         (Rx("D0115", "J31.0", 2, "滴", "TID", 3, 1, "支", route="nasal", text="滴鼻，每日3次，每侧鼻孔每次2滴，连续使用不超过3天"),)),
    Case(10, "online-sale-warfarin", "房颤抗凝，华法林钠片：列入药品网络销售禁止清单（目录未标记，由清单识别）。",
         "Atrial fibrillation, warfarin: on the online-sale ban list (the formulary does not flag it; the list does).",
         ("special_drug.online_sale_prohibited",), PatientSpec("徐美华", "female", "1956-07-19", "sh-xuhui"), "zhang",
         (Dx("I48.9", "2026-08-28", "zhongshan", "discharge-summary"),),
         (Rx("D0027", "I48.9", 1, "片", "QD", 7, 7, "片", text="口服，每日1次，每次1片，定期监测INR"),)),
    # ------------------------------------------------------------------ children and age
    Case(11, "child-no-guardian", "3岁儿童由祖母陪同就诊（祖母不是监护人），有陪伴医师但无监护人。",
         "A 3-year-old seen with a grandmother (not a guardian): accompanying physician present, no guardian.",
         ("pediatric.no_guardian",), PatientSpec("张子轩", "male", "2023-05-08", "sh-pudong", weight_kg=15.0,
                                         relatives=(Relative("李秀英", "female", "GRMTH", "祖母"),)), "liu",
         (Dx("J06.9", "2026-11-29", "children"),),
         (Rx("D0006", "J06.9", 5, "mL", "Q8H", 3, 1, "瓶", text="发热（体温≥38.5℃）时口服5毫升，间隔不少于6小时"),),
         accompanying=True),
    Case(12, "child-no-accompanying-physician", "4岁儿童变应性鼻炎，父亲参与，但无陪伴医师。",
         "Allergic rhinitis in a 4-year-old: the father took part, no accompanying physician.",
         ("pediatric.no_accompanying_physician",),
         PatientSpec("王一诺", "female", "2022-02-11", "sh-minhang", weight_kg=17.0,
            relatives=(Relative("王磊", "male", "FTH", "父亲"),)), "liu",
         (Dx("J30.4", "2026-10-26", "fudan-children"),),
         (Rx("D0011", "J30.4", 1, "片", "QN", 7, 7, "片", text="每晚睡前嚼服1片"),)),
    Case(13, "age-unknown", "港澳居民，出生日期仅有年份：年龄无法确定，儿童规则无法判断。",
         "Hong Kong resident whose birth date has only a year: the age is unknown, so the age rules cannot apply.",
         ("patient.age_unknown",), PatientSpec("陈秀珍", "female", "1958", "sh-pudong"), "zhang",
         (Dx("I10", "2026-09-02", "shfirst"),), (AMLODIPINE_7D,), tolerate=("completeness.missing_field",)),
    # ------------------------------------------------------------------ visit and diagnosis
    Case(14, "first-visit", "首次在线就诊（初诊）：互联网医院不得首诊开方。",
         "First online visit: an internet hospital may not prescribe at a first visit.",
         ("visit.not_follow_up",), PatientSpec("周杰", "male", "1985-10-21", "bj-chaoyang"), "zhang",
         (Dx("I10", "2026-11-10", "chaoyang"),), (AMLODIPINE_7D,), follow_up=False),
    Case(15, "diagnosis-missing", "阿托伐他汀条目未写诊断。",
         "The atorvastatin item names no diagnosis.",
         ("diagnosis.missing",), PatientSpec("何建国", "male", "1962-08-08", "sh-pudong"), "zhang",
         (HTN, Dx("E78.5", "2026-09-18", "pudong")),
         (AMLODIPINE_7D, Rx("D0003", None, 1, "片", "QN", 7, 7, "片")),
         tolerate=("completeness.missing_field", "diagnosis.not_confirmed")),
    Case(16, "diagnosis-not-confirmed", "高脂血症仅为在线初步诊断，无实体医疗机构确诊记录。",
         "Hyperlipidaemia is only a provisional online diagnosis, with no record from a physical hospital.",
         ("diagnosis.not_confirmed",), PatientSpec("罗红", "female", "1968-04-25", "cd-wuhou"), "zhang",
         (Dx("I10", "2026-08-16", "huaxi"), Dx("E78.5", "2026-12-01", "huaxi", status="provisional")),
         (AMLODIPINE_7D, ATORVASTATIN_7D)),
    # ------------------------------------------------------------------ the prescriber
    Case(17, "ai-requester", "开方者为 AI 智能开方助手（Device）；医师的签名因而不是开方者的签名。",
         "The requester is an AI prescribing assistant (a Device); the physician's signature is then not the "
         "requester's.",
         ("prescriber.not_physician", "signature.invalid"), PatientSpec("郭平", "male", "1966-01-30", "sh-pudong"), "device",
         (HTN, Dx("E11.900", "2026-09-18", "pudong")), (AMLODIPINE_7D, METFORMIN_7D), signer="zhang"),
    Case(18, "prescriber-not-verified", "开方医师未完成实名认证。",
         "The prescriber has not passed real-name verification.",
         ("prescriber.not_verified",), PatientSpec("高敏", "female", "1972-05-17", "hz-xihu"), "ma",
         (Dx("I10", "2026-07-22", "zju1"),), (AMLODIPINE_7D,)),
    Case(19, "prescriber-junior", "开方医师独立执业不满3年（约2年3个月）。",
         "The prescriber has practised independently for less than 3 years (about 2 years and 3 months).",
         ("prescriber.insufficient_experience",), PatientSpec("谢磊", "male", "1980-09-02", "sh-minhang"), "yang",
         (Dx("K21.9", "2026-10-30", "sixth"),), (Rx("D0010", "K21.9", 1, "粒", "QD", 7, 7, "粒",
                                                   text="早餐前口服，每日1次，每次1粒"),)),
    # ------------------------------------------------------------------ signatures
    Case(20, "signature-missing", "处方没有医师电子签名（无 Provenance）。",
         "The prescription carries no physician e-signature (no Provenance).",
         ("signature.missing",), PatientSpec("韩雪", "female", "1990-03-22", "sh-pudong"), "chen",
         (Dx("J30.4", "2026-11-05", "pudong"),), (Rx("D0007", "J30.4", 1, "片", "QD", 7, 7, "片"),),
         signature="missing"),
    Case(21, "signature-tampered", "签名后数量被改动（7片改为70片），签名不再相符。",
         "The quantity was changed after signing (7 to 70 tablets): the signature no longer matches.",
         ("signature.invalid",), PatientSpec("曹文", "male", "1959-12-12", "nj-gulou"), "zhang",
         (Dx("I10", "2026-08-09", "jsph"),), (AMLODIPINE_7D,), signature="tampered"),
    Case(22, "signature-untrusted-root", "签名证书来自不受信任的根证书（冒用张志远医师的姓名与执业证号）。",
         "The signing certificate chains to an untrusted root (it borrows Dr Zhang's name and licence number).",
         ("signature.invalid",), PatientSpec("邓丽", "female", "1970-07-07", "sh-xuhui"), "zhang",
         (Dx("I10", "2026-10-15", "zhongshan"),), (Rx("D0008", "I10", 1, "粒", "QD", 7, 7, "粒"),),
         signer="zhang-untrusted"),
    Case(23, "signature-expired-cert", "医师用11个月前已过期的旧证书签名。",
         "The physician signed with her old certificate, which expired eleven months ago.",
         ("signature.invalid",), PatientSpec("冯涛", "male", "1964-11-11", "sz-gusu"), "zhou",
         (Dx("E11.900", "2026-09-26", "suzhou"),), (METFORMIN_7D,), signer="zhou-expired"),
    # ------------------------------------------------------------------ dispensing, validity, supply
    Case(24, "dispensed-before-prescription", "药品已于前一日发出，处方次日补开（先药后方）。",
         "The drugs were handed out the day before the prescription was written (先药后方).",
         ("dispensing.before_prescription",), PatientSpec("彭飞", "male", "1955-02-14", "sh-pudong"), "zhang", (HTN,),
         (AMLODIPINE_7D,), dispensed_before=True),
    Case(25, "validity-expired", "4天前开具、未注明有效期的处方（当日有效），今天审核时已过期。",
         "Written 4 days ago with no annotated validity (valid on that day only): expired when reviewed today.",
         ("validity.expired",), PatientSpec("蒋红梅", "female", "1967-10-01", "wh-wuchang"), "zhang",
         (Dx("I10", "2026-06-11", "whu"),), (AMLODIPINE_7D,),
         authored=dt.datetime(2026, 11, 27, 9, 30, tzinfo=TZ)),
    Case(26, "validity-too-long", "处方注明有效期7天，超过最长3天。",
         "The prescription states a 7-day validity, longer than the 3-day maximum.",
         ("validity.too_long",), PatientSpec("沈伟", "male", "1971-04-04", "hz-xihu"), "zhou",
         (Dx("E11.900", "2026-05-19", "zju1", "inpatient-record"),),
         (Rx("D0002", "E11.900", 1, "片", "BID", 7, 14, "片", validity_days=7),)),
    Case(27, "supply-over-7-days-unjustified", "普通处方14天用量，医师未注明理由。",
         "An ordinary prescription for 14 days, with no reason given by the prescriber.",
         ("supply.over_limit_unjustified",), PatientSpec("唐丽华", "female", "1963-06-18", "sh-pudong"), "zhang", (HTN,),
         (Rx("D0001", "I10", 1, "片", "QD", 14, 14, "片"),)),
    Case(28, "supply-over-7-days-justified", "普通处方14天用量，医师注明了延长理由（需药师确认）。",
         "An ordinary prescription for 14 days with the prescriber's reason (the pharmacist acknowledges it).",
         ("supply.over_limit_justified",), PatientSpec("许国强", "male", "1957-09-29", "sh-minhang"), "zhang", (HTN,),
         (Rx("D0001", "I10", 1, "片", "QD", 14, 14, "片",
             note="患者高龄、行动不便，血压控制平稳，延长处方用量至14天。"),)),
    Case(29, "long-term-over-12-weeks", "长期处方120天，超过12周上限。",
         "A long-term prescription for 120 days, over the 12-week limit.",
         ("supply.over_long_term_limit",), PatientSpec("袁芳", "female", "1960-01-09", "sh-minhang"), "zhou",
         (Dx("E03.9", "2026-04-21", "ruijin"),),
         (Rx("D0012", "E03.9", 1, "片", "QD", 120, 120, "片", text="每日早餐前30分钟空腹口服1片", continuous=True),)),
    # ------------------------------------------------------------------ the drugs themselves
    Case(30, "unknown-drug", "达格列净片不在本药房药品目录中，无法核对与调配。",
         "Dapagliflozin is not in this pharmacy's formulary: it cannot be verified or dispensed.",
         ("catalog.unknown_drug",), PatientSpec("钟华", "male", "1969-08-21", "gz-tianhe"), "zhou",
         (Dx("E11.900", "2026-10-03", "sysu1"),), (Rx("dapagliflozin", "E11.900", 1, "片", "QD", 7, 7, "片"),)),
    Case(31, "allergy-aspirin", "患者有阿司匹林过敏史（荨麻疹），处方含阿司匹林肠溶片。",
         "The patient is allergic to aspirin (urticaria), and the prescription holds aspirin.",
         ("allergy.match",), PatientSpec("潘建军", "male", "1954-03-03", "sh-pudong", allergy="aspirin"), "zhang",
         (Dx("I25.1", "2026-07-30", "zhongshan", "discharge-summary"),),
         (Rx("D0025", "I25.1", 1, "片", "QD", 7, 7, "片"), Rx("D0003", "I25.1", 1, "片", "QN", 7, 7, "片"))),
    Case(32, "skin-test-missing", "青霉素V钾片需皮试，处方未附皮试结果。",
         "Penicillin V needs a skin test, and the item carries no result.",
         ("skin_test.missing",), PatientSpec("田甜", "female", "1996-05-12", "sh-xuhui"), "zhang",
         (Dx("J03.9", "2026-11-30", "zhongshan"),), (Rx("D0301", "J03.9", 2, "片", "TID", 5, 30, "片"),)),
    Case(33, "skin-test-positive", "青霉素皮试阳性，仍开具青霉素V钾片。",
         "The penicillin skin test was positive, yet penicillin V is prescribed.",
         ("skin_test.positive",), PatientSpec("董强", "male", "1987-12-30", "bj-chaoyang"), "zhang",
         (Dx("J03.9", "2026-11-30", "chaoyang"),),
         (Rx("D0301", "J03.9", 2, "片", "TID", 5, 30, "片", skin_test="positive"),)),
    Case(34, "completeness-gap", "用法只写“遵医嘱”，缺少单次剂量与用药频次。",
         "The instructions say only \"as directed\": no dose and no frequency.",
         ("completeness.missing_field",), PatientSpec("梁秀梅", "female", "1952-08-16", "gz-tianhe"), "zhang",
         (Dx("I10", "2026-09-07", "sysu1"),),
         (Rx("D0001", "I10", 1, "片", None, 7, 7, "片", text="遵医嘱", instructions_only=True),)),
    Case(35, "too-many-items", "多病共存老人，一张处方6种药品，超过5种（需药师确认）。",
         "An elderly patient with several conditions: 6 drugs on one prescription, more than 5.",
         ("items.too_many",), PatientSpec("宋玉兰", "female", "1954-04-19", "sh-pudong"), "zhang",
         (HTN, Dx("E11.900", "2026-09-18", "pudong"), Dx("E78.5", "2026-09-18", "pudong"),
          Dx("I25.1", "2026-05-06", "zhongshan", "discharge-summary"), Dx("K21.9", "2026-10-11", "pudong"),
          Dx("M81.0", "2026-03-27", "ruijin")),
         (AMLODIPINE_7D, METFORMIN_7D, ATORVASTATIN_7D, Rx("D0025", "I25.1", 1, "片", "QD", 7, 7, "片"),
          Rx("D0010", "K21.9", 1, "粒", "QD", 7, 7, "粒", text="早餐前口服，每日1次，每次1粒"),
          Rx("D0216", "M81.0", 1, "片", "QD", 7, 7, "片"))),
    Case(36, "dose-over-max", "氨氯地平每次2片、每日2次（20 mg/日），超过每日最大剂量10 mg。",
         "Amlodipine 2 tablets twice a day (20 mg/day), above the 10 mg daily maximum.",
         ("dose.over_max",), PatientSpec("马志明", "male", "1961-02-02", "wh-wuchang"), "zhang",
         (Dx("I10", "2026-08-24", "whu"),), (Rx("D0001", "I10", 2, "片", "BID", 7, 28, "片"),)),
    Case(37, "duplicate-therapy", "氨氯地平与硝苯地平控释片同属二氢吡啶类钙拮抗剂（C08CA），重复用药。",
         "Amlodipine with nifedipine: both dihydropyridine calcium channel blockers (C08CA).",
         ("therapy.duplicate",), PatientSpec("卢秀英", "female", "1958-12-24", "nj-gulou"), "zhang",
         (Dx("I10", "2026-09-12", "jsph"),),
         (AMLODIPINE_7D, Rx("D0022", "I10", 1, "片", "QD", 7, 7, "片", text="口服，每日1次，每次1片，整片吞服"))),
    Case(38, "interaction-clarithromycin-simvastatin", "克拉霉素与辛伐他汀合用：严重相互作用（横纹肌溶解风险）。",
         "Clarithromycin with simvastatin: a major interaction (risk of rhabdomyolysis).",
         ("interaction.major",), PatientSpec("蔡文", "male", "1966-06-06", "sh-minhang"), "zhang",
         (Dx("E78.5", "2026-06-29", "sixth"), Dx("J20.9", "2026-11-30", "sixth")),
         (Rx("D0028", "E78.5", 1, "片", "QN", 7, 7, "片"), Rx("D0029", "J20.9", 1, "片", "BID", 7, 14, "片"))),
    # ------------------------------------------------------------------ more clean chronic follow-ups
    Case(39, "hyperlipidaemia-rosuvastatin", "高脂血症复诊，瑞舒伐他汀长期处方4周，线下门诊确诊。",
         "Hyperlipidaemia follow-up, rosuvastatin as a 4-week long-term prescription; outpatient record.",
         (), PatientSpec("赵淑芬", "female", "1963-03-08", "sh-xuhui"), "zhang",
         (Dx("E78.5", "2026-08-21", "shfirst"),),
         (Rx("D0207", "E78.5", 1, "片", "QN", 28, 28, "片", text="每晚睡前口服1片", continuous=True),)),
    Case(40, "gout-allopurinol", "痛风间歇期复诊，别嘌醇长期处方4周（每日2次，每次0.1g）。",
         "Gout follow-up between attacks, allopurinol 0.1 g twice a day as a 4-week long-term prescription.",
         (), PatientSpec("钱国栋", "male", "1970-10-15", "nj-gulou"), "zhou",
         (Dx("M10.9", "2026-07-03", "jsph"),),
         (Rx("D0215", "M10.9", 1, "片", "BID", 28, 56, "片", text="口服，每日2次，每次1片，饭后服，多饮水",
             continuous=True),)),
    Case(41, "bph-terazosin-finasteride", "良性前列腺增生复诊，特拉唑嗪联合非那雄胺，长期处方4周。",
         "Benign prostatic hyperplasia follow-up, terazosin with finasteride, a 4-week long-term prescription.",
         (), PatientSpec("孙宝山", "male", "1951-05-26", "sz-gusu"), "zhang",
         (Dx("N40", "2026-05-14", "suzhou"),),
         (Rx("D0228", "N40", 1, "片", "QN", 28, 28, "片", text="睡前口服1片，起身宜缓慢", continuous=True),
          Rx("D0229", "N40", 1, "片", "QD", 28, 28, "片", continuous=True))),
    Case(42, "chd-secondary-prevention", "冠心病二级预防复诊：阿司匹林、阿托伐他汀、单硝酸异山梨酯，出院小结确诊。",
         "Coronary heart disease follow-up (secondary prevention): aspirin, atorvastatin, isosorbide mononitrate; "
         "discharge summary.",
         (), PatientSpec("周德明", "male", "1956-01-19", "sh-pudong"), "zhang",
         (Dx("I25.1", "2026-04-09", "zhongshan", "discharge-summary"),),
         (Rx("D0025", "I25.1", 1, "片", "QD", 28, 28, "片", continuous=True),
          Rx("D0003", "I25.1", 1, "片", "QN", 28, 28, "片", continuous=True),
          Rx("D0208", "I25.1", 1, "片", "QD", 28, 28, "片", text="每日早晨口服1片，整片吞服", continuous=True))),
    Case(43, "osteoporosis-calcium", "绝经后骨质疏松复诊，碳酸钙D3片长期处方8周，诊断证明确诊。",
         "Postmenopausal osteoporosis follow-up, calcium carbonate with vitamin D3 for 8 weeks (long-term).",
         (), PatientSpec("吴桂英", "female", "1955-09-27", "sh-minhang"), "zhou",
         (Dx("M81.0", "2026-03-18", "ruijin", "diagnosis-certificate"),),
         (Rx("D0216", "M81.0", 1, "片", "QD", 56, 56, "片", text="每日1次，每次1片，随餐嚼服或吞服", continuous=True),)),
    Case(44, "htn-t2dm-combined", "高血压合并2型糖尿病复诊：厄贝沙坦、二甲双胍、西格列汀，长期处方4周。",
         "Hypertension with type 2 diabetes follow-up: irbesartan, metformin, sitagliptin; 4-week long-term.",
         (), PatientSpec("冯建军", "male", "1960-12-02", "hz-xihu"), "zhou",
         (Dx("I10", "2026-02-25", "zju1"), Dx("E11.900", "2026-02-25", "zju1", "inpatient-record")),
         (Rx("D0226", "I10", 1, "片", "QD", 28, 28, "片", continuous=True),
          Rx("D0002", "E11.900", 1, "片", "BID", 28, 56, "片", text="口服，每日2次，每次1片，随餐服", continuous=True),
          Rx("D0227", "E11.900", 1, "片", "QD", 28, 28, "片", continuous=True))),
)

# Chronic conditions (慢性病): the clean follow-ups of these are the demo's "approve right away" set.
CHRONIC: Final = frozenset({"I10", "E11.900", "J45.900", "E03.9", "E78.5", "I25.1", "M81.0", "M10.9", "N40"})


# =========================================================================== PKI (in memory only)

# As written for the demo day; moved with it like every other date.
CA_VALIDITY: Final = (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2034, 1, 1, tzinfo=dt.UTC))
LEAF_VALIDITY: Final = (dt.datetime(2025, 7, 1, tzinfo=dt.UTC), dt.datetime(2028, 7, 1, tzinfo=dt.UTC))
# Ends at midnight Beijing time on 1 January 2026, eleven months before the demo day.
EXPIRED_VALIDITY: Final = (
    dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC),
)


@dataclass(frozen=True, slots=True)
class Signer:
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class DemoPki:
    ca: x509.Certificate
    signers: Mapping[str, Signer]  # physician key, plus "zhou-expired" and "zhang-untrusted"
    staff: Mapping[str, Signer] = field(default_factory=dict)  # licence -> a pharmacy account's credential


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A pharmacy account that gets a signing certificate from the demo CA (subject serialNumber = licence)."""

    licence: str
    name: str


def _name(common_name: str, organisation: str, serial_number: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial_number is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
    return x509.Name(attrs)


def _issue(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    validity: tuple[dt.datetime, dt.datetime],
) -> x509.Certificate:
    """A CA certificate when ``issuer`` is None (self-signed), else a signing certificate issued by it."""
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(ski, critical=False)
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
    else:
        issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # Non-repudiation (content commitment): the key signs prescriptions, not TLS sessions.
            .add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def build_pki(now: dt.datetime, staff: Sequence[StaffMember] = ()) -> DemoPki:
    """A fresh demo CA, a certificate per signing physician, an expired one, an untrusted one, and staff's.

    The validity periods of the case table move with ``now``'s date; the staff certificates start at
    ``now``. The CA key goes out of scope on return: nothing issued later can chain to this CA.
    """
    delta = shift_for(now)
    ca_validity, leaf_validity, expired_validity = (
        (a + delta, b + delta) for a, b in (CA_VALIDITY, LEAF_VALIDITY, EXPIRED_VALIDITY))
    ca_key = _new_key()
    ca = _issue(_name("RXWS 演示 CA (demo only)", "RXWS Demo"), ca_key.public_key(), ca_key, None, ca_validity)
    signers: dict[str, Signer] = {}
    for p in PHYSICIANS.values():
        if p.has_certificate:
            key = _new_key()
            cert = _issue(_name(p.name, "RXWS Demo", p.licence), key.public_key(), ca_key, ca, leaf_validity)
            signers[p.key] = Signer(key, (cert, ca))
    zhou = PHYSICIANS["zhou"]
    key = _new_key()
    cert = _issue(_name(zhou.name, "RXWS Demo", zhou.licence), key.public_key(), ca_key, ca, expired_validity)
    signers["zhou-expired"] = Signer(key, (cert, ca))
    # A second root nobody configured, issuing a certificate in Dr Zhang's name and licence number.
    rogue_key = _new_key()
    rogue = _issue(_name("RXWS 不受信任的演示根 (demo only, untrusted)", "Untrusted Demo"),
                   rogue_key.public_key(), rogue_key, None, ca_validity)
    zhang = PHYSICIANS["zhang"]
    key = _new_key()
    cert = _issue(_name(zhang.name, "Untrusted Demo", zhang.licence), key.public_key(), rogue_key, rogue, leaf_validity)
    signers["zhang-untrusted"] = Signer(key, (cert, rogue))
    issued: dict[str, Signer] = {}
    for member in staff:
        key = generate_key()
        cert = issue_pharmacist_certificate(ca, ca_key, name=member.name, licence=member.licence,
                                            public_key=key.public_key(), now=now)
        issued[member.licence] = Signer(key, (cert, ca))
    return DemoPki(ca, signers, issued)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


# =========================================================================== FHIR resources


def _ref(resource: Json) -> Json:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def _coding(system: str, code: str, display: str | None = None) -> Json:
    c: Json = {"system": system, "code": code}
    if display is not None:
        c["display"] = display
    return c


def _at(moment: dt.datetime) -> str:
    return moment.isoformat()


def _id_number(rng: random.Random, region: str, birth: dt.date, gender: str) -> str:
    """An 18-digit resident ID (GB 11643): region, birth date, sequence (odd = male), check character."""
    sequence = rng.randrange(0, 50) * 2 + (1 if gender == "male" else 0)
    body = f"{region}{birth:%Y%m%d}{rng.randrange(0, 10)}{sequence:02d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(("135", "136", "137", "138", "139", "150", "151", "158", "177", "186", "189"))
    return prefix + "".join(str(rng.randrange(10)) for _ in range(8))


def _address(rng: random.Random, city_key: str) -> Json:
    state, city, district, _, streets = CITIES[city_key]
    line = f"{rng.choice(streets)}{rng.randrange(10, 1200)}弄{rng.randrange(1, 40)}号{rng.randrange(1, 25)}0{rng.randrange(1, 5)}室"
    prefix = state if state == city else f"{state}{city}"
    return {"use": "home", "text": f"{prefix}{district}{line}", "line": [line], "city": city, "district": district,
            "state": state, "country": "CN"}


def _patient(case: Case, rng: random.Random) -> Json:
    spec = case.patient
    if len(spec.birth) == 10:
        identifier = {"type": {"text": "居民身份证"}, "system": CN_ID_SYSTEM,
                      "value": _id_number(rng, CITIES[spec.city][3], dt.date.fromisoformat(spec.birth), spec.gender)}
    else:
        # Without a full birth date there is no resident ID number to show (it encodes the date).
        identifier = {"type": {"text": "港澳居民来往内地通行证"}, "system": PERMIT_SYSTEM,
                      "value": f"H{rng.randrange(10**7, 10**8)}"}
    return {
        "resourceType": "Patient",
        "id": f"pat-{case.slug}",
        "identifier": [identifier],
        "name": [{"text": spec.name}],
        "gender": spec.gender,
        "telecom": [{"system": "phone", "value": _phone(rng), "use": "mobile"}],
        "address": [_address(rng, spec.city)],
        "birthDate": spec.birth,
    }


def _practitioner(p: Physician) -> Json:
    r: Json = {
        "resourceType": "Practitioner",
        "id": f"prac-{p.key}",
        "identifier": [{"system": LICENCE_SYSTEM, "value": p.licence}],
        "active": True,
        "name": [{"text": p.name}],
        "gender": p.gender,
        "qualification": [{
            "code": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/v2-0360", "MD")], "text": "执业医师"},
            "period": {"start": p.practice_start},
        }],
    }
    if p.verified_at is not None:
        r["extension"] = [{"url": REAL_NAME_EXT, "valueDateTime": p.verified_at}]
    return r


def _role(p: Physician) -> Json:
    code, display, text = p.specialty
    return {
        "resourceType": "PractitionerRole",
        "id": f"role-{p.key}",
        "active": True,
        "practitioner": {"reference": f"Practitioner/prac-{p.key}"},
        "organization": {"reference": f"Organization/{INTERNET_HOSPITAL[0]}"},
        "specialty": [{"coding": [_coding(SNOMED, code, display)], "text": text}],
    }


def _internet_hospital() -> Json:
    return {
        "resourceType": "Organization",
        "id": INTERNET_HOSPITAL[0],
        "active": True,
        "type": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/organization-type", "prov")],
                  "text": "互联网医院"}],
        "name": INTERNET_HOSPITAL[1],
    }


def _hospital(key: str) -> Json:
    return {
        "resourceType": "Organization",
        "id": f"org-{key}",
        "active": True,
        "type": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/organization-type", "prov")],
                  "text": "实体医疗机构"}],
        "name": HOSPITALS[key],
    }


def _related_person(case: Case, index: int, relative: Relative, rng: random.Random) -> Json:
    return {
        "resourceType": "RelatedPerson",
        "id": f"rp-{case.slug}-{index}",
        "active": True,
        "patient": {"reference": f"Patient/pat-{case.slug}"},
        "relationship": [{"coding": [_coding(ROLE_CODE, relative.role)], "text": relative.role_zh}],
        "name": [{"text": relative.name}],
        "gender": relative.gender,
        "telecom": [{"system": "phone", "value": _phone(rng), "use": "mobile"}],
    }


def _weight(case: Case, kg: float, authored: dt.datetime) -> Json:
    return {
        "resourceType": "Observation",
        "id": f"wt-{case.slug}",
        "status": "final",
        "category": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")]}],
        "code": {"coding": [_coding(LOINC, "29463-7", "Body weight")], "text": "体重"},
        "subject": {"reference": f"Patient/pat-{case.slug}"},
        "effectiveDateTime": _at(authored - dt.timedelta(minutes=20)),
        "valueQuantity": {"value": kg, "unit": "kg", "system": UCUM, "code": "kg"},
    }


def _allergy(case: Case, allergen: str, delta: dt.timedelta) -> Json:
    code, display, text = ALLERGENS[allergen]
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"alg-{case.slug}-0",
        "clinicalStatus": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")]},
        "verificationStatus": {"coding": [
            _coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed")]},
        "type": "allergy",
        "category": ["medication"],
        "criticality": "high",
        "code": {"coding": [_coding(SNOMED, code, display)], "text": text},
        "patient": {"reference": f"Patient/pat-{case.slug}"},
        "recordedDate": _shift_date(ALLERGY_RECORDED, delta),
        "reaction": [{"manifestation": [{"coding": [_coding(SNOMED, "126485001", "Urticaria")], "text": "荨麻疹"}],
                      "severity": "moderate"}],
    }


def _device() -> Json:
    return {
        "resourceType": "Device",
        "id": "dev-ai-assistant",
        "status": "active",
        "deviceName": [{"name": "智能开方助手", "type": "user-friendly-name"}],
        "type": {"text": "AI 辅助开方软件"},
        "version": [{"value": "3.2"}],
        "owner": {"reference": f"Organization/{INTERNET_HOSPITAL[0]}"},
    }


def _encounter(case: Case, authored: dt.datetime, prescriber: str | None, relatives: Sequence[Json]) -> Json:
    participants: list[Json] = []
    if prescriber is not None:
        participants.append({"type": [{"coding": [_coding(PARTICIPATION, "PPRF")]}],
                             "individual": {"reference": f"Practitioner/prac-{prescriber}"}})
    for person, relative in zip(relatives, case.patient.relatives):
        if relative.takes_part:
            participants.append({"individual": _ref(person)})
    if case.accompanying:
        participants.append({"type": [{"coding": [_coding(PARTICIPATION, "PART")]}],
                             "individual": {"reference": "Practitioner/prac-he"}})
    if case.follow_up:
        visit_type = {"coding": [_coding(SNOMED, "390906007", "Follow-up encounter")], "text": "复诊"}
    else:
        visit_type = {"coding": [_coding(SNOMED, "11429006", "Consultation")], "text": "初诊"}
    return {
        "resourceType": "Encounter",
        "id": f"enc-{case.slug}",
        "status": "finished",
        "class": _coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "VR", "virtual"),
        "type": [visit_type],
        "subject": {"reference": f"Patient/pat-{case.slug}"},
        "participant": participants,
        "period": {"start": _at(authored - dt.timedelta(minutes=12)), "end": _at(authored)},
        "serviceProvider": {"reference": f"Organization/{INTERNET_HOSPITAL[0]}"},
    }


def _diagnosis(case: Case, index: int, dx: Dx) -> list[Json]:
    """The Condition and, for a confirmed one, the DocumentReference from the hospital that holds it."""
    system, name = DIAGNOSES[dx.code]
    condition: Json = {
        "resourceType": "Condition",
        "id": f"cond-{case.slug}-{index}",
        "clinicalStatus": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")]},
        "verificationStatus": {"coding": [
            _coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", dx.status)]},
        "category": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                         "encounter-diagnosis")]}],
        "code": {"coding": [_coding(system, dx.code, name)], "text": name},
        "subject": {"reference": f"Patient/pat-{case.slug}"},
        "recordedDate": dx.recorded,
    }
    if dx.status != "confirmed":
        # Written down during the online visit itself: no physical institution's record backs it.
        condition["encounter"] = {"reference": f"Encounter/enc-{case.slug}"}
        return [condition]
    source_zh = SOURCE_DOCUMENTS[dx.source]
    document: Json = {
        "resourceType": "DocumentReference",
        "id": f"doc-{case.slug}-{index}",
        "status": "current",
        "type": {"coding": [_coding(DIAGNOSIS_SOURCE_SYSTEM, dx.source, source_zh)], "text": source_zh},
        "subject": {"reference": f"Patient/pat-{case.slug}"},
        "date": f"{dx.recorded}T10:30:00+08:00",
        "custodian": {"reference": f"Organization/org-{dx.hospital}"},
        "description": f"{HOSPITALS[dx.hospital]}{source_zh}：{name}",
        "content": [{"attachment": {
            "contentType": "application/pdf",
            "title": f"{source_zh}-{dx.recorded}.pdf",
            "creation": dx.recorded,
            # A stand-in for the scanned record's SHA-1, fixed per record so the bundles are reproducible.
            "hash": base64.b64encode(hashlib.sha1(f"{case.slug}|{dx.code}|{dx.recorded}".encode()).digest()).decode(),
        }}],
    }
    condition["evidence"] = [{"detail": [_ref(document)]}]
    return [document, condition]


def _drug_concept(drug: Drug) -> Json:
    codings = []
    if drug.code is not None:
        codings.append(_coding(DRUG_SYSTEM, drug.code, drug.name_zh))
    if drug.atc is not None:
        codings.append(_coding(ATC, drug.atc))
    return {"text": drug.name_zh, "coding": codings}


def _dosage(rx: Rx) -> Json:
    route_code, route_display, route_zh = ROUTES[rx.route]
    if rx.instructions_only:
        return {"text": rx.text}
    ucum, unit_zh = UNITS[rx.unit]
    dosage: Json = {}
    if rx.timing is not None:
        dosage["text"] = rx.text or f"{route_zh}，{TIMINGS[rx.timing]}，每次{rx.dose}{unit_zh}"
        dosage["timing"] = {"code": {"coding": [_coding(GTS, rx.timing)]}}
    else:
        assert rx.prn_max_per_day is not None and rx.text is not None
        dosage["text"] = rx.text
        dosage["timing"] = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                       "frequencyMax": rx.prn_max_per_day}}
        dosage["asNeededBoolean"] = True
    dosage["route"] = {"coding": [_coding(SNOMED, route_code, route_display)], "text": route_zh}
    dosage["doseAndRate"] = [{"doseQuantity": {"value": rx.dose, "unit": unit_zh, "system": UCUM, "code": ucum}}]
    return dosage


def _medication_request(case: Case, index: int, rx: Rx, number: str, authored: dt.datetime, requester: Json) -> Json:
    r: Json = {
        "resourceType": "MedicationRequest",
        "id": f"mr-{case.slug}-{index}",
        "status": "active",
        "intent": "order",
        "category": [{"coding": [
            _coding("http://terminology.hl7.org/CodeSystem/medicationrequest-category", "outpatient", "Outpatient")]}],
        "groupIdentifier": {"system": PRESCRIPTION_SYSTEM, "value": number},
        "subject": {"reference": f"Patient/pat-{case.slug}"},
        "encounter": {"reference": f"Encounter/enc-{case.slug}"},
        "authoredOn": _at(authored),
        "requester": requester,
        "medicationCodeableConcept": _drug_concept(_drug(rx.drug)),
    }
    if rx.reason is not None:
        system, name = DIAGNOSES[rx.reason]
        r["reasonCode"] = [{"coding": [_coding(system, rx.reason, name)], "text": name}]
    if rx.continuous:
        r["courseOfTherapyType"] = {
            "coding": [_coding("http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy",
                               "continuous", "Continuous long term therapy")],
            "text": "长期处方",
        }
    if rx.note is not None:
        r["note"] = [{"text": rx.note}]
    r["dosageInstruction"] = [_dosage(rx)]
    dispense: Json = {}
    if rx.validity_days is not None:
        end = dt.datetime.combine(authored.date() + dt.timedelta(days=rx.validity_days - 1), dt.time(23, 59, 59), TZ)
        dispense["validityPeriod"] = {"start": _at(authored), "end": _at(end)}
    dispense["quantity"] = {"value": rx.quantity, "unit": rx.quantity_unit}
    dispense["expectedSupplyDuration"] = {"value": rx.days, "unit": "d", "system": UCUM, "code": "d"}
    r["dispenseRequest"] = dispense
    if rx.skin_test is not None:
        r["extension"] = [{"url": SKIN_TEST_EXT, "valueCode": rx.skin_test}]
    return r


def _dispense(case: Case, request: Json, authored: dt.datetime) -> Json:
    handed_over = dt.datetime.combine(authored.date() - dt.timedelta(days=1), dt.time(18, 5), TZ)
    # Copies: a later change to the request (the tampering case) must not reach the dispense.
    return copy.deepcopy({
        "resourceType": "MedicationDispense",
        "id": f"md-{case.slug}-0",
        "status": "completed",
        "medicationCodeableConcept": request["medicationCodeableConcept"],
        "subject": request["subject"],
        "authorizingPrescription": [_ref(request)],
        "quantity": request["dispenseRequest"]["quantity"],
        "daysSupply": request["dispenseRequest"]["expectedSupplyDuration"],
        "whenPrepared": _at(handed_over - dt.timedelta(minutes=25)),
        "whenHandedOver": _at(handed_over),
    })


def _provenance(case: Case, requests: Sequence[Json], signer_physician: str, token: str, authored: dt.datetime) -> Json:
    who = {"reference": f"Practitioner/prac-{signer_physician}"}
    return {
        "resourceType": "Provenance",
        "id": f"prov-{case.slug}",
        "target": [_ref(r) for r in requests],
        "recorded": _at(authored),
        "agent": [{
            "type": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author",
                                        "Author")]},
            "who": who,
        }],
        "signature": [{
            "type": [_coding("urn:iso-astm:E1762-95:2013", "1.2.840.10065.1.12.1.1", "Author's Signature")],
            "when": _at(authored),
            "who": who,
            "sigFormat": "application/jose",
            "data": base64.b64encode(token.encode("ascii")).decode("ascii"),
        }],
    }


# =========================================================================== one demo set for one moment


def shift_for(now: dt.datetime) -> dt.timedelta:
    """How far the case table's dates move for ``now``: its date at +08:00 minus DEMO_DAY (whole days)."""
    if now.utcoffset() is None:
        raise ValueError("now must carry a time zone")
    return now.astimezone(TZ).date() - DEMO_DAY


def _shift_date(value: str, delta: dt.timedelta) -> str:
    """A full ISO date moved by ``delta``; a partial one (a year only: the unknown-age case) stays as written."""
    if len(value) != 10:
        return value
    return (dt.date.fromisoformat(value) + delta).isoformat()


def _shift_datetime(value: str, delta: dt.timedelta) -> str:
    return (dt.datetime.fromisoformat(value) + delta).isoformat()


def default_series(now: dt.datetime) -> str:
    """The part of the prescription numbers that tells one demo set from another: ``now`` to the second."""
    return f"{now.astimezone(TZ):%y%m%d%H%M%S}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The case table as it reads for one moment: dates moved, authoring times and numbers fixed."""

    now: dt.datetime
    series: str
    delta: dt.timedelta
    cases: tuple[Case, ...]
    physicians: Mapping[str, Physician]
    authored: Mapping[int, dt.datetime]

    def number(self, case: Case) -> str:
        return f"RXDEMO{self.series}{case.nn:03d}"


def plan(now: dt.datetime, series: str | None = None) -> Plan:
    delta = shift_for(now)
    physicians = {
        k: replace(p, practice_start=_shift_date(p.practice_start, delta),
                   verified_at=None if p.verified_at is None else _shift_datetime(p.verified_at, delta))
        for k, p in PHYSICIANS.items()
    }
    cases = tuple(
        replace(c, patient=replace(c.patient, birth=_shift_date(c.patient.birth, delta)),
                diagnoses=tuple(replace(d, recorded=_shift_date(d.recorded, delta)) for d in c.diagnoses),
                authored=None if c.authored is None else c.authored + delta)
        for c in CASES
    )
    return Plan(now, series or default_series(now), delta, cases, physicians, _authoring_times(now, cases))


def _authoring_times(now: dt.datetime, cases: Sequence[Case]) -> dict[int, dt.datetime]:
    """Minutes before ``now``, in case order, and never before midnight at +08:00 (valid today means today)."""
    local = now.astimezone(TZ).replace(microsecond=0)
    midnight = local.replace(hour=0, minute=0, second=0)
    first, last = max(local - AUTHORED_SPAN, midnight), max(local - AUTHORED_LAST, midnight)
    moving = [c for c in cases if c.authored is None]
    step = (last - first) / max(len(moving) - 1, 1)
    times = {c.nn: c.authored for c in cases if c.authored is not None}
    for i, c in enumerate(moving):
        times[c.nn] = (first + step * i).replace(microsecond=0)
    return times


def build_bundle(case: Case, pki: DemoPki, p: Plan) -> Json:
    """The case's collection Bundle: one prescription, signed as the case says."""
    rng = random.Random(f"{SEED}:{case.slug}")
    authored = p.authored[case.nn]
    number = p.number(case)
    physicians = p.physicians
    resources: list[Json] = [_patient(case, rng)]
    if case.patient.weight_kg is not None:
        resources.append(_weight(case, case.patient.weight_kg, authored))
    if case.patient.allergy is not None:
        resources.append(_allergy(case, case.patient.allergy, p.delta))

    signer_key = case.signer or case.prescriber
    signer_physician = signer_key.split("-", 1)[0]  # "zhou-expired" is Dr Zhou's old certificate
    people = [k for k in dict.fromkeys((case.prescriber, signer_physician)) if k in physicians]
    if case.accompanying:
        people.append("he")
    for key in people:
        resources += [_practitioner(physicians[key]), _role(physicians[key])]
    resources.append(_internet_hospital())
    if case.prescriber == "device":
        device = _device()
        resources.append(device)
        requester = _ref(device)
    else:
        requester = {"reference": f"Practitioner/prac-{case.prescriber}"}
    relatives = [_related_person(case, i, r, rng) for i, r in enumerate(case.patient.relatives)]
    resources += relatives
    # The AI's visit is still conducted by the physician whose signature the Provenance carries.
    resources.append(_encounter(case, authored, case.prescriber if case.prescriber in physicians else signer_physician,
                                relatives))
    for i, dx in enumerate(case.diagnoses):
        resources += _diagnosis(case, i, dx)
    for key in dict.fromkeys(dx.hospital for dx in case.diagnoses if dx.status == "confirmed"):
        resources.append(_hospital(key))
    requests = [_medication_request(case, i, rx, number, authored, requester) for i, rx in enumerate(case.items)]
    resources += requests
    if case.dispensed_before:
        resources.append(_dispense(case, requests[0], authored))
    if case.signature != "missing":
        signer = pki.signers[signer_key]
        token = sign_detached(prescription_content(requests), signer.key, signer.chain)
        resources.append(_provenance(case, requests, signer_physician, token, authored))
        if case.signature == "tampered":
            # After signing: the signed content no longer matches what the pharmacy receives.
            requests[0]["dispenseRequest"]["quantity"]["value"] *= 10
    return {
        "resourceType": "Bundle",
        # The series keeps bundles of different demo sets apart (FHIR ids are at most 64 characters).
        "id": f"bundle-demo-{p.series}-{case.nn:02d}",
        "meta": {"tag": [_coding(f"{RXWS}/CodeSystem/data-origin", "demo", "演示数据 demo data")]},
        "type": "collection",
        "timestamp": _at(authored),
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


# =========================================================================== checks


def _fhir_errors(bundle: Json) -> list[str]:
    errors: list[str] = []
    envelope = {k: v for k, v in bundle.items() if k != "entry"}
    for label, resource in [("Bundle", envelope)] + [(e["fullUrl"], e["resource"]) for e in bundle["entry"]]:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValidationError as exc:
            errors.append(f"{label}: {exc}")
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    if len(full_urls) != len(bundle["entry"]):
        errors.append("duplicate fullUrl")
    for ref in _references(bundle["entry"]):
        if ref not in full_urls:
            errors.append(f"unresolved reference {ref}")
    return errors


def _references(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)


def _signature_errors(case: Case, bundle: Json, pki: DemoPki, p: Plan) -> list[str]:
    """Each signature must behave as its case says; a demo that shows the wrong thing is worse than none."""
    resources = [e["resource"] for e in bundle["entry"]]
    provenance = [r for r in resources if r["resourceType"] == "Provenance"]
    if case.signature == "missing":
        return ["a Provenance is present"] if provenance else []
    if len(provenance) != 1:
        return [f"{len(provenance)} Provenance resources"]
    requests = [r for r in resources if r["resourceType"] == "MedicationRequest"]
    token = base64.b64decode(provenance[0]["signature"][0]["data"]).decode("ascii")
    try:
        leaf = verify_detached(token, prescription_content(requests))
    except JwsError as exc:
        return [] if case.signature == "tampered" else [f"the signature does not verify: {exc.reason}"]
    if case.signature == "tampered":
        return ["the tampered prescription still verifies"]
    authored = p.authored[case.nn]
    trusted = _issued_by(leaf, pki.ca)
    in_validity = leaf.not_valid_before_utc <= authored <= leaf.not_valid_after_utc
    licence = p.physicians[case.prescriber].licence if case.prescriber in p.physicians else None
    valid = trusted and in_validity and leaf_serial_number(leaf) == licence
    if valid == ("signature.invalid" in case.expect):
        return [f"signature valid={valid} (trusted={trusted}, in validity={in_validity}) contradicts the case"]
    return []


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _case_errors() -> list[str]:
    errors: list[str] = []
    numbers = [c.nn for c in CASES]
    if len(set(numbers)) != len(numbers) or len({c.slug for c in CASES}) != len(CASES):
        errors.append("case numbers or slugs repeat")
    for case in CASES:
        unknown = set(case.expect + case.tolerate) - set(RULE_SEVERITY)
        if unknown:
            errors.append(f"{case.file_name}: unknown rule ids {sorted(unknown)}")
        for rx in case.items:
            if rx.drug not in FORMULARY and rx.drug not in UNLISTED_DRUGS:
                errors.append(f"{case.file_name}: drug {rx.drug} is neither in the formulary nor listed as unknown")
            if rx.reason is not None and rx.reason not in {d.code for d in case.diagnoses}:
                errors.append(f"{case.file_name}: {rx.drug} is for {rx.reason}, which the patient's history lacks")
    uncovered = set(RULE_SEVERITY) - {r for c in CASES for r in c.expect}
    if uncovered:
        errors.append(f"no case raises {sorted(uncovered)}")
    leaked = set(UNLISTED_DRUGS) & {d.generic_en for d in FORMULARY.values()}
    if leaked:
        errors.append(f"drugs meant to be unknown are in the formulary: {sorted(leaked)}")
    clean_chronic = [c for c in CASES if is_clean_chronic_follow_up(c)]
    if len(clean_chronic) < MIN_CLEAN_CHRONIC:
        errors.append(f"only {len(clean_chronic)} clean chronic follow-ups, the demo promises {MIN_CLEAN_CHRONIC}")
    return errors


MIN_CLEAN_CHRONIC: Final = 10


def is_clean_chronic_follow_up(case: Case) -> bool:
    """A follow-up for chronic conditions only, meant to raise nothing: approvable right away."""
    return (not case.expect and case.follow_up and bool(case.items)
            and all(rx.reason in CHRONIC for rx in case.items))


def _check_staff(pki: DemoPki, staff: Sequence[StaffMember], now: dt.datetime) -> list[str]:
    errors = []
    for member in staff:
        signer = pki.staff.get(member.licence)
        if signer is None:
            errors.append(f"{member.licence}: no certificate issued")
            continue
        leaf = signer.chain[0]
        if leaf_serial_number(leaf) != member.licence or not _issued_by(leaf, pki.ca):
            errors.append(f"{member.licence}: the certificate does not name the licence or chain to the demo CA")
        if not leaf.not_valid_before_utc <= now.replace(microsecond=0) < leaf.not_valid_after_utc:
            errors.append(f"{member.licence}: the certificate is not valid now")
    return errors


# =========================================================================== the demo set


@dataclass(frozen=True, slots=True)
class DemoBundle:
    """One signed demo prescription as the pharmacy receives it, with what its case says about it."""

    case: Case
    number: str
    authored: dt.datetime
    data: bytes = field(repr=False)

    @property
    def file_name(self) -> str:
        return self.case.file_name


@dataclass(frozen=True, slots=True)
class DemoSet:
    """A complete demo for one moment. It holds certificates, never the demo CA's or physicians' keys;
    ``staff`` holds the keys of the pharmacy accounts' credentials (to be stored PIN-encrypted at once)."""

    now: dt.datetime
    series: str
    ca: x509.Certificate
    certificates: Mapping[str, x509.Certificate]  # "physician-zhang" …, the physicians' signing certificates
    bundles: tuple[DemoBundle, ...]
    staff: Mapping[str, Signer] = field(repr=False)
    formulary_csv: bytes = field(default=LABELLED_FORMULARY_CSV.encode("utf-8"), repr=False)

    @property
    def ca_pem(self) -> bytes:
        return _pem(self.ca)

    def manifest(self) -> Json:
        return {
            "review_at": _at(self.now),
            "series": self.series,
            "trust_anchor": "pki/demo-ca.pem",
            "formulary": "formulary.csv",
            "rule_ids": list(RULE_SEVERITY),
            "bundles": {
                b.file_name: {
                    "prescription": b.number,
                    "authored": _at(b.authored),
                    "expect": sorted(b.case.expect),
                    "tolerate": sorted(b.case.tolerate),
                    "approvable": b.case.approvable,
                    "clean_chronic_follow_up": is_clean_chronic_follow_up(b.case),
                    "description_zh": b.case.zh,
                    "description_en": b.case.en,
                }
                for b in self.bundles
            },
        }

    def files(self) -> dict[str, bytes]:
        """Every file of ``--out DIR``, by path relative to it: no key among them."""
        files: dict[str, bytes] = {"pki/demo-ca.pem": self.ca_pem}
        for name, cert in self.certificates.items():
            files[f"pki/{name}.pem"] = _pem(cert)
        files["formulary.csv"] = self.formulary_csv
        for b in self.bundles:
            files[f"bundles/{b.file_name}"] = b.data
        files["manifest.json"] = _json(self.manifest())
        numbers = {b.case.nn: b.number for b in self.bundles}
        files["README.md"] = (f"# Demo data (演示数据) for {_at(self.now)}\n\n"
                              "Made by `python -m resources.demo.generate`; see `resources/demo/README.md`. "
                              "Trust `pki/demo-ca.pem` for these bundles only (e.g. `rxws check --at "
                              f"{_at(self.now)} --trust pki/demo-ca.pem --formulary formulary.csv bundles`).\n\n"
                              + case_table(numbers) + "\n").encode("utf-8")
        return files


def build_demo(now: dt.datetime, *, series: str | None = None, staff: Sequence[StaffMember] = ()) -> DemoSet:
    """The demo for ``now`` (aware): a new demo CA, physicians' and ``staff``'s certificates, signed bundles.

    ``series`` makes the prescription numbers (default: ``now`` to the second). Every resource is
    validated (fhir.resources R4B), every reference resolved and every signature checked against its
    case; any flaw raises DemoDataError. The demo CA's key is gone when this returns.
    """
    errors = _case_errors()
    p = plan(now, series)
    pki = build_pki(now, staff)
    errors += _check_staff(pki, staff, now)
    bundles = []
    for case in p.cases:
        bundle = build_bundle(case, pki, p)
        errors += [f"{case.file_name}: {e}" for e in _fhir_errors(bundle) + _signature_errors(case, bundle, pki, p)]
        bundles.append(DemoBundle(case, p.number(case), p.authored[case.nn], _json(bundle)))
    late = [b.file_name for b in bundles if b.authored > now]
    if late:
        errors.append(f"authored after now: {late}")
    certificates = {f"physician-{key}": signer.chain[0] for key, signer in pki.signers.items()}
    demo = DemoSet(now, p.series, pki.ca, certificates, tuple(bundles), pki.staff)
    errors += [f"{name}: contains key material" for name, data in demo.files().items()
               if _KEY_PEM_MARKER.encode() in data]
    if errors:
        raise DemoDataError("the demo data is not right:\n  " + "\n  ".join(errors))
    return demo


# =========================================================================== README


def case_table(numbers: Mapping[int, str] | None = None) -> str:
    """The cases as a Markdown table (with the prescription numbers of one set, when given)."""
    head = "| file | prescription | must raise | approvable | 说明 / description |\n|---|---|---|---|---|\n"
    if numbers is None:
        head = "| file | must raise | approvable | 说明 / description |\n|---|---|---|---|\n"
    rows = []
    for c in CASES:
        number = f" {numbers[c.nn]} |" if numbers is not None else ""
        approvable = "yes" if c.approvable else "no"
        if is_clean_chronic_follow_up(c):
            approvable += " (chronic)"
        rows.append(f"| `{c.file_name}` |{number} {', '.join(f'`{r}`' for r in sorted(c.expect)) or '—'} "
                    f"| {approvable} | {c.zh} {c.en} |")
    return head + "\n".join(rows) + "\n"


def physician_table() -> str:
    rows = "\n".join(
        f"| {p.name} | {p.licence} | {p.specialty[2]} | {p.practice_start} | "
        f"{'yes' if p.verified_at else '**no**'} | {'yes' if p.has_certificate else '—'} |"
        for p in PHYSICIANS.values()
    )
    return ("| name | licence (执业证书编码) | department | practising since (as of 2026-12-01) "
            "| real-name verified | certificate |\n|---|---|---|---|---|---|\n" + rows + "\n")


_BEGIN, _END = "<!-- generated: cases -->", "<!-- /generated -->"


def readme_text(current: str) -> str:
    """``current`` (resources/demo/README.md) with its generated part rewritten from the case table."""
    before, sep, rest = current.partition(_BEGIN)
    _, sep2, after = rest.partition(_END)
    if not sep or not sep2:
        raise DemoDataError(f"{README} lacks the {_BEGIN} … {_END} markers")
    generated = f"{_BEGIN}\n{case_table()}\n## Physicians\n\n{physician_table()}{_END}"
    return before + generated + after


# =========================================================================== output


def _json(value: Json) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def write(files: Mapping[str, bytes], out: Path) -> None:
    """Write ``files`` under ``out`` and remove generated files a previous run left that this one did not make."""
    for sub, pattern in (("bundles", "*.json"), ("pki", "*.pem")):
        folder = out / sub
        if folder.is_dir():
            for stale in folder.glob(pattern):
                if f"{sub}/{stale.name}" not in files:
                    stale.unlink()
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


_DESCRIPTION: Final = ("Write one demo set: the demo CA and physician certificates, the formulary, signed bundles "
                       "authored minutes before --now, a manifest and a README. No key is written.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resources.demo.generate", description=_DESCRIPTION)
    parser.add_argument("--out", type=Path, help="output directory")
    parser.add_argument("--now", metavar="ISO8601", help="the moment to make the demo for, with its offset (default: now)")
    parser.add_argument("--update-readme", action="store_true", help=f"rewrite the case tables in {README}")
    args = parser.parse_args(argv)
    if args.update_readme:
        README.write_text(readme_text(README.read_text("utf-8")), encoding="utf-8")
        print(f"updated {README}", file=sys.stderr)
        if args.out is None:
            return 0
    if args.out is None:
        parser.error("--out DIR is needed")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if args.now:
        try:
            now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        except ValueError:
            parser.error(f"--now {args.now!r} is not an ISO 8601 date-time")
        if now.utcoffset() is None:
            parser.error("--now needs a UTC offset, e.g. 2026-12-01T11:30:00+08:00")
    demo = build_demo(now)
    files = demo.files()
    write(files, args.out)
    print(f"wrote {len(demo.bundles)} bundles, {sum(1 for n in files if n.startswith('pki/'))} certificates, "
          f"formulary, manifest and README for {_at(now)} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

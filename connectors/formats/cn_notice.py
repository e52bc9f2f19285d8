"""Fields of a Chinese procurement notice (政府采购 / 招标投标 公告) read from its labelled text.

Chinese portals and their RSS feeds publish a notice as prose with labelled lines rather than as data:
``采购人：…``, ``项目编号：…``, ``预算金额：480.00万元``, ``提交投标文件截止时间：2026年12月11日 09:30``,
``采购代理机构名称：…``, in tables (label cell, value cell) or in numbered sections (``1.采购人信息`` then
``名 称：…``). ``extract`` finds them in the sanitised notice HTML (or plain text) and returns what it
found; nothing is guessed from unlabelled prose.

- labels: full-width or ASCII colon, or a table cell boundary; spaces inside a label (``名 称``) and a
  unit in brackets after it (``预算金额（万元）``) are allowed;
- amounts: ``common.parse_amount`` (万元/亿元, ￥, full-width digits, 壹佰万元整); an award notice's
  中标/成交金额 is its value, otherwise 预算金额 / 采购预算 before 最高限价 / 控制价;
- deadlines: 提交投标（响应）文件截止时间 and its variants are the tender deadline; 开标时间 only when no
  submission deadline is given (``deadline_kind`` says which). Times are Beijing time unless the source
  says otherwise; 上午/下午 are honoured; a date without a time is the end of that day. In a correction
  notice, the new time (``变更为`` / ``调整为`` / ``延期至``) is the deadline;
- status from the notice title (and its first line): 中标/成交/结果 -> award, 更正/变更/澄清 -> amendment,
  终止/废标/流标/取消 -> cancellation or closed, 采购意向 -> planning; else an open tender.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.formats.common import clean, parse_amount, zone

BEIJING = "Asia/Shanghai"


def _label(*names: str) -> str:
    # "名称" also matches "名 称" / "名　称" (ccgp pads two-character labels).
    return "|".join(r"\s*".join(map(re.escape, name)) for name in names)


_BUYER = _label("采购人名称", "采购单位名称", "招标人名称", "采购人", "采购单位", "招标人", "采购机构", "建设单位")
_AGENT = _label("采购代理机构名称", "招标代理机构名称", "代理机构名称", "采购代理机构", "招标代理机构", "代理机构",
                "集中采购机构")
_CODE = _label("项目编号", "招标编号", "采购编号", "采购项目编号", "招标项目编号", "项目代码", "采购计划编号",
               "标段编号")
_AWARD_VALUE = _label("中标（成交）金额", "中标(成交)金额", "中标金额", "成交金额", "中标价", "成交价", "合同金额")
_BUDGET = _label("预算金额", "采购预算金额", "采购预算", "项目预算", "项目总投资", "预算")
_CAP = _label("最高限价", "招标控制价", "最高投标限价", "控制价", "拦标价")
_SUBMIT = _label("提交投标文件截止时间", "投标文件递交截止时间", "递交投标文件截止时间", "投标截止时间",
                 "响应文件提交截止时间", "提交响应文件截止时间", "投标文件提交截止时间", "报价截止时间",
                 "提交首次响应文件截止时间", "递交响应文件截止时间", "截止时间")
_OPENING = _label("开标时间", "开启时间", "开标日期")
_NAME = _label("名称")

# The value of a label runs to the end of its line or clause.
# The value of a label runs to the end of its line or clause, or to the next "label：" on the same line.
_STOP = re.compile(r"[\n\t；;。]|，(?=\D)|\s{2,}|\s+(?=[^\s:：，。；]{2,12}[:：])")
# Between a label and its value: an optional bracketed unit, then a colon, a table cell boundary, or the
# closing bracket of a 【label】.
_SEP = r"\s*(?:[（(]([^）)\n]{0,12})[）)])?\s*(?:[:：]|\t|】)\s*"
# A submission label may name the opening too ("投标截止时间和开标时间：", "提交投标文件截止时间、开标时间和地点").
_ALSO_OPENING = r"(?:[和及、]\s*开标时间(?:和地点|及地点)?)?"
_DATE = re.compile(
    r"(\d{4})\s*[年/\-.]\s*(\d{1,2})\s*[月/\-.]\s*(\d{1,2})\s*日?"
    r"(?:\s*[（(]?(?:星期|周)[一二三四五六日天][)）]?)?"
    r"(?:\s*(上午|下午|中午|晚上)?\s*(\d{1,2})\s*(?:[:：时点])\s*(?:(\d{1,2})\s*分?)?)?"
)
_NEW_VALUE = re.compile(r"(?:变更为|调整为|更正为|延期至|延长至|推迟至|改为)")

_STATUS_WORDS = [
    ("award", ("中标结果", "成交结果", "中标公告", "成交公告", "中标（成交）", "中标(成交)", "结果公告", "中标候选人",
               "中标公示", "成交公示")),
    ("cancellation", ("终止公告", "取消公告", "终止采购", "采购终止")),
    ("closed", ("废标公告", "流标公告", "废标", "流标")),
    ("amendment", ("更正公告", "变更公告", "澄清公告", "更正", "变更", "澄清", "补充公告")),
    ("planning", ("采购意向", "意向公开", "预公告", "需求公示", "资格预审公告")),
]


def notice_text(html: str) -> str:
    """Visible text with line breaks between blocks and a tab between table cells."""
    if "<" not in html:
        return html
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after("\t")
    for block in soup.find_all(["p", "div", "tr", "li", "br", "h1", "h2", "h3", "h4", "h5", "h6", "table"]):
        block.insert_after("\n")
    text = soup.get_text("")
    return "\n".join(" ".join(line.replace("\u3000", " ").split(" ")).strip() for line in text.splitlines())


def status_of(title: str, text: str = "") -> str | None:
    """The notice's status from its title (else its first line): ``award``, ``amendment``... or ``None``."""
    for head in (title or "", (text or "").strip().split("\n", 1)[0]):
        for status, words in _STATUS_WORDS:
            if any(w in head for w in words):
                return status
    return None


def _values(text: str, label: str) -> list[tuple[str, str]]:
    """``(value, bracketed unit)`` for each occurrence of ``label`` followed by a separator."""
    out = []
    for m in re.finditer(rf"(?:{label}){_SEP}", text):
        rest = text[m.end():]
        stop = _STOP.search(rest)
        value = rest[: stop.start()] if stop else rest
        out.append((value.strip(), m.group(1) or ""))
    return out


def _first_name(text: str, label: str) -> str | None:
    for value, _unit in _values(text, label):
        name = clean(value.strip("，,、 "), 300)
        if name and not _placeholder(name):
            return name
    return None


def _placeholder(value: str) -> bool:
    return value in ("/", "-", "—", "无", "详见公告", "详见附件", "见附件") or not any(ch.isalnum() for ch in value)


def _section_name(text: str, heading: str) -> str | None:
    """``名 称：…`` under a numbered heading such as ``1.采购人信息``."""
    m = re.search(rf"(?:{heading})\s*信息[^\n]*\n", text)
    if m is None:
        return None
    block = text[m.end(): m.end() + 300]
    return _first_name(block.split("\n\n")[0], _NAME)


def _amount(text: str, label: str) -> Any:
    for value, unit in _values(text, label):
        amount = parse_amount(value)
        if amount is None:
            continue
        if "万" in unit and not re.search(r"[万亿]", value):
            amount *= 10_000
        if amount == amount.to_integral_value():
            amount = amount.quantize(1)
        return amount
    return None


def _when(value: str, tz: str, *, after_change: bool) -> datetime | None:
    if after_change:
        m = _NEW_VALUE.search(value)
        if m:
            value = value[m.end():]
    m = _DATE.search(value)
    if m is None:
        return None
    y, mo, d, noon, hh, mm = m.groups()
    try:
        if hh is None:
            local = datetime(int(y), int(mo), int(d), 23, 59, 59)
        else:
            hour = int(hh) + (12 if noon in ("下午", "晚上") and int(hh) < 12 else 0)
            local = datetime(int(y), int(mo), int(d), hour, int(mm or 0))
    except ValueError:
        return None
    from datetime import UTC

    return local.replace(tzinfo=zone(tz)).astimezone(UTC)


def _deadline(text: str, label: str, tz: str, *, after_change: bool) -> datetime | None:
    """The first date after ``label``: on its line (``label：date``; in a correction also ``label由 A 变更为
    B`` / ``label调整为 B``), or, when the label is a section heading (``四、提交投标文件截止时间、开标时间和地点``),
    on the next non-empty line."""
    for m in re.finditer(rf"(?:{label}){_ALSO_OPENING}(?:{_SEP}|\s*(?=由|从|{_NEW_VALUE.pattern}))?", text):
        if text[max(0, m.start() - 6): m.start()].endswith(("获取招标文件", "获取采购文件", "获取", "公告期限", "质疑")):
            continue  # the end of document sale or of the notice period, not of bidding
        line, _, after = text[m.end():].partition("\n")
        when = _when(line, tz, after_change=after_change)
        if when is None and _is_heading(text, m.start(), line):
            following = next((ln for ln in after.split("\n") if ln.strip()), "")
            when = _when(following, tz, after_change=after_change)
        if when is not None:
            return when
    return None


def _is_heading(text: str, start: int, rest: str) -> bool:
    """A label that opens a numbered section heading (``四、…``) with nothing after it on the line."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    return bool(re.fullmatch(r"\s*(?:[一二三四五六七八九十]+、|\d+[.、．]\s*)?", before)) and not re.search(r"\d", rest)


def extract(html_or_text: str, *, title: str = "", tz: str | None = None) -> dict[str, Any]:
    """The labelled fields of a Chinese notice: ``buyer``, ``agent``, ``project_code``, ``value`` (CNY),
    ``deadline`` (UTC) with ``deadline_kind``, ``status``. Keys are present only for what was found."""
    text = notice_text(html_or_text or "")
    tz = tz or BEIJING
    status = status_of(title, text)
    out: dict[str, Any] = {}
    buyer = _first_name(text, _BUYER) or _section_name(text, "采购人|招标人|采购单位")
    if buyer:
        out["buyer"] = buyer
    agent = _first_name(text, _AGENT) or _section_name(text, "采购代理机构|招标代理机构|代理机构")
    if agent:
        out["agent"] = agent
    code = _first_name(text, _CODE)
    if code:
        out["project_code"] = code[:200]
    labels = (_AWARD_VALUE, _BUDGET, _CAP) if status == "award" else (_BUDGET, _CAP, _AWARD_VALUE)
    for label in labels:
        value = _amount(text, label)
        if value is not None:
            out["value"] = value
            break
    changed = status == "amendment"
    deadline = _deadline(text, _SUBMIT, tz, after_change=changed)
    if deadline is not None:
        out["deadline"], out["deadline_kind"] = deadline, "tender"
    else:
        opening = _deadline(text, _OPENING, tz, after_change=changed)
        if opening is not None:
            out["deadline"], out["deadline_kind"] = opening, "opening"
    if status:
        out["status"] = status
    return out


def looks_chinese(text: str) -> bool:
    """Whether a notice is worth reading for Chinese labels (any of the main labels is there)."""
    return bool(re.search(r"采购人|招标人|采购单位|项目编号|预算金额|最高限价|截止时间|开标时间|中标|成交|更正", text or ""))


def fill(fields: dict[str, Any], text: str, defaults: Mapping[str, Any]) -> None:
    """Fill ``fields`` from a Chinese notice's labelled text (``cn_notice``): buyer, agent, project code,
    value (in the source's currency, CNY by default), deadline and status. Only for Chinese notices."""
    language = str(defaults.get("language") or "").lower()
    title = str(fields.get("title") or "")
    if not (language.startswith("zh") or defaults.get("country") == "CN" or looks_chinese(title)):
        return
    if not looks_chinese(title + text):
        return
    found = extract(text, title=title, tz=defaults.get("timezone") or BEIJING)
    if found.get("buyer"):
        fields["buyer"] = {"name": found["buyer"]}
    if found.get("value") is not None and fields.get("value") is None:
        fields["value"] = found["value"]
        fields["currency"] = defaults.get("currency") or "CNY"
    if found.get("deadline") is not None and fields.get("deadline") is None:
        fields["deadline"], fields["deadline_kind"] = found["deadline"], found["deadline_kind"]
    for key in ("agent", "project_code", "status"):
        if found.get(key) and not fields.get(key):
            fields[key] = found[key]

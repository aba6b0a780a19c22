"""Every user-facing string of the monthly compliance report, one dict per language.

Both dicts have exactly the same keys (a test checks it).  Strings with ``{placeholders}`` are filled with
:meth:`str.format`.  Month names and page labels are shared with the energy report.
"""

from __future__ import annotations

from rareeco.reports import energy_labels
from rareeco.reports.labels import lang_code

_SHARED = ("month_value", *(f"month_{i}" for i in range(1, 13)), "page_before", "page_middle", "page_after",
           "generated_by", "none", "yes", "no", "organisation", "month", "generated_at", "software_version")

EN: dict[str, str] = {
    "report_title": "Monthly compliance report",
    "report_subtitle": "Air and water emissions against the permit: CEMS data availability, averages, "
                       "exceedances and quantities (HJ 75-2017, HJ 212-2017)",
    "workbook_title": "Monthly compliance report",
    "sheet_summary": "Summary",
    "sheet_hours": "Hours and availability",
    "sheet_concentrations": "Concentrations",
    "sheet_limits": "Limits",
    "sheet_events": "Exceedance events",
    "sheet_quantities": "Quantities",
    "sheet_notes": "Notes",
    "timezone": "Time zone",
    "period": "Period",
    "period_through": "{start} to {end} (data to {through})",
    "validity": "Validity rules",
    "validity_value": "an hour is valid with ≥ {fraction:.0%} of its values valid; a day with ≥ {hours} valid hours",
    "headline_events": "Exceedance events",
    "headline_unacknowledged": "not acknowledged",
    "headline_permit": "of the permit",
    "headline_availability": "Lowest data availability",
    "sec_hours": "Hours and data availability",
    "sec_concentrations": "Concentrations at the reference O2",
    "sec_limits": "Limits",
    "sec_events": "Exceedance events",
    "sec_quantities": "Emitted quantities",
    "sec_notes": "Notes",
    "outlet": "Outlet",
    "mn": "MN",
    "reference_o2": "Reference O2 (%)",
    "pollutant": "Pollutant",
    "unit": "Unit",
    "valid_h": "Valid (h)",
    "invalid_h": "Invalid (h)",
    "stopped_h": "Stopped (h)",
    "missing_h": "Missing (h)",
    "flags": "Data flags (values)",
    "availability": "Availability",
    "mean": "Monthly average",
    "max": "Maximum hourly",
    "max_at": "Maximum at",
    "valid_days": "Valid days",
    "days_over": "Days over the daily limit",
    "daily_limit": "Daily limit",
    "kind": "Kind",
    "kind_permit": "permit",
    "kind_target": "target",
    "period_h": "hourly",
    "period_d": "daily",
    "period_y": "yearly quantity",
    "averaging": "Averaging",
    "limit": "Limit",
    "source": "Source",
    "over": "Periods over the limit",
    "over_h": "{n} h",
    "over_d": "{n} d",
    "over_y": "{share:.1f} % of the limit",
    "event_id": "No.",
    "start": "Start",
    "end": "End",
    "duration_h": "Duration (h)",
    "peak": "Peak",
    "peak_at": "Peak at",
    "acknowledged": "Acknowledged",
    "acknowledged_by": "Acknowledged by",
    "acknowledged_at": "Acknowledged at",
    "ack_by": "{who}, {when}",
    "not_acknowledged": "Not acknowledged",
    "comment": "Comment",
    "no_events": "No exceedance this month.",
    "t_month": "This month (t)",
    "t_ytd": "Year to date (t)",
    "substituted_h": "Substituted hours (month / year)",
    "yearly_limit": "Yearly limit (t)",
    "yearly_share": "Share of the yearly limit",
    "note_flags": "Data flags (HJ 212-2017 Table 8): N normal, F stopped, M maintenance, S manual, D fault, "
                  "C calibration, T over range, B communication fault. Values flagged M, S, D, C, T or B are left out "
                  "of the averages; an hour whose values are all F is a stopped hour, neither valid nor missing.",
    "note_availability": "Data availability = valid hours / (hours of the period − stopped hours).",
    "note_conversion": "Concentrations are hourly averages at standard state, dry basis (HJ 75-2017 appendix), "
                       "converted to the outlet's reference O2 with the hour's average O2: "
                       "C × (21 − O2 ref) / (21 − O2 hour). Daily averages are the means of the valid hours.",
    "note_quantities": "Quantities: Σ hourly emission rate [kg/h] = measured (not O2-converted) concentration × "
                       "standard dry flow; stopped hours count zero; missing hours count zero unless the outlet "
                       "substitutes them after 40 CFR 75.33 (then shown as substituted hours).",
    "note_validity_u": "The validity minimums of HJ 75-2017 §12 are not verified here: the rules above are the "
                       "organisation's configuration.",
    "note_partial": "The month is not over: figures to {through}; later hours are not counted.",
}

ZH: dict[str, str] = {
    "report_title": "月度排放合规报告",
    "report_subtitle": "大气及水污染物排放与排污许可的对照：自动监测数据有效率、均值、超标及排放量"
                       "（HJ 75-2017、HJ 212-2017）",
    "workbook_title": "月度排放合规报告",
    "sheet_summary": "汇总",
    "sheet_hours": "小时数及数据有效率",
    "sheet_concentrations": "浓度",
    "sheet_limits": "限值",
    "sheet_events": "超标事件",
    "sheet_quantities": "排放量",
    "sheet_notes": "说明",
    "timezone": "时区",
    "period": "报告期",
    "period_through": "{start} 至 {end}（数据截至 {through}）",
    "validity": "数据有效性规则",
    "validity_value": "小时内有效数据不少于 {fraction:.0%} 时该小时有效；日内有效小时不少于 {hours} 个时该日有效",
    "headline_events": "超标事件",
    "headline_unacknowledged": "未确认",
    "headline_permit": "为许可限值超标",
    "headline_availability": "最低数据有效率",
    "sec_hours": "小时数及数据有效率",
    "sec_concentrations": "折算至基准含氧量的浓度",
    "sec_limits": "限值",
    "sec_events": "超标事件",
    "sec_quantities": "排放量",
    "sec_notes": "说明",
    "outlet": "排放口",
    "mn": "设备唯一标识（MN）",
    "reference_o2": "基准含氧量（%）",
    "pollutant": "污染物",
    "unit": "单位",
    "valid_h": "有效（小时）",
    "invalid_h": "无效（小时）",
    "stopped_h": "停运（小时）",
    "missing_h": "缺失（小时）",
    "flags": "数据标记（个数）",
    "availability": "数据有效率",
    "mean": "月均值",
    "max": "最大小时均值",
    "max_at": "最大值时间",
    "valid_days": "有效日数",
    "days_over": "日均值超限天数",
    "daily_limit": "日均限值",
    "kind": "类别",
    "kind_permit": "许可限值",
    "kind_target": "控制目标",
    "period_h": "小时均值",
    "period_d": "日均值",
    "period_y": "年排放量",
    "averaging": "平均时段",
    "limit": "限值",
    "source": "依据",
    "over": "超限时段",
    "over_h": "{n} 小时",
    "over_d": "{n} 天",
    "over_y": "占限值 {share:.1f}%",
    "event_id": "编号",
    "start": "开始",
    "end": "结束",
    "duration_h": "持续（小时）",
    "peak": "峰值",
    "peak_at": "峰值时间",
    "acknowledged": "确认",
    "acknowledged_by": "确认人",
    "acknowledged_at": "确认时间",
    "ack_by": "{who}，{when}",
    "not_acknowledged": "未确认",
    "comment": "说明",
    "no_events": "本月无超标。",
    "t_month": "本月（吨）",
    "t_ytd": "本年累计（吨）",
    "substituted_h": "替代小时数（本月/本年）",
    "yearly_limit": "年许可排放量（吨）",
    "yearly_share": "占年许可排放量",
    "note_flags": "数据标记（HJ 212-2017 表8）：N 正常，F 停运，M 维护，S 手工输入，D 故障，C 校准，T 超测定上限，"
                  "B 通讯异常。标记为 M、S、D、C、T、B 的数据不参与均值计算；全部数据标记为 F 的小时为停运小时，"
                  "既不计为有效也不计为缺失。",
    "note_availability": "数据有效率 = 有效小时数 /（报告期小时数 − 停运小时数）。",
    "note_conversion": "浓度为标准状态、干基的小时均值（HJ 75-2017 附录），以该小时平均含氧量折算至排放口的基准含氧量："
                       "C × (21 − 基准含氧量) / (21 − 小时含氧量)。日均值为有效小时均值的平均。",
    "note_quantities": "排放量：逐小时排放速率 [kg/h] 之和，排放速率 = 实测（未折算）浓度 × 标准状态干基流量；"
                       "停运小时计为零；缺失小时计为零，除非该排放口按 40 CFR 75.33 替代缺失数据（列为替代小时）。",
    "note_validity_u": "HJ 75-2017 §12 的数据有效性最低要求在此未经核实：以上规则为组织自行配置。",
    "note_partial": "本月尚未结束：数据截至 {through}，之后的小时不计入。",
}

for _key in _SHARED:
    EN[_key], ZH[_key] = energy_labels.EN[_key], energy_labels.ZH[_key]
LABELS: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


def compliance_labels(lang: str) -> dict[str, str]:
    """The label dict of ``lang`` (``zh`` for any tag starting with ``zh``, else ``en``)."""
    return LABELS[lang_code(lang)]

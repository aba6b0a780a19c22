"""Every user-facing string of the inventory reports, one dict per language.

Both dicts have exactly the same keys (a test checks it): no string may exist in only one
language.  Strings with ``{placeholders}`` are filled with :meth:`str.format`.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]

EN: dict[str, str] = {
    # titles
    "report_title": "Greenhouse gas inventory report",
    "report_subtitle": "Organisational inventory of scope 1, 2 and 3 emissions",
    "workbook_title": "Greenhouse gas inventory",
    # sheet names (Excel: at most 31 characters, none of []:*?/\)
    "sheet_summary": "Summary",
    "sheet_site": "By site",
    "sheet_line": "By line",
    "sheet_month": "By month",
    "sheet_category": "By category",
    "sheet_activity": "By activity",
    "sheet_gas": "By gas",
    "sheet_factors": "Factors",
    "sheet_notes": "Notes",
    "sheet_provenance": "Provenance",
    # report metadata
    "organisation": "Organisation",
    "year": "Reporting year",
    "period": "Reporting period",
    "period_value": "{year}-01-01 to {year}-12-31 (calendar year)",
    "method": "Accounting method",
    "gwp_set": "GWP set",
    "result_id": "Result id",
    "status": "Status",
    "status_locked": "Locked (verified result)",
    "status_open": "Open (draft result)",
    "calculated_at": "Calculated at",
    "software_version": "Software version",
    "unit_t_co2e": "t CO2e",
    "unit": "Unit",
    "none": "None.",
    # scopes and totals
    "item": "Item",
    "scope1": "Scope 1 – direct emissions",
    "scope2_location": "Scope 2 – purchased energy, location-based",
    "scope2_market": "Scope 2 – purchased energy, market-based",
    "scope3": "Scope 3 – other indirect emissions",
    "total_location": "Total (scope 2 location-based)",
    "total_market": "Total (scope 2 market-based)",
    "col_scope1": "Scope 1",
    "col_scope2_location": "Scope 2 (location)",
    "col_scope2_market": "Scope 2 (market)",
    "col_scope3": "Scope 3",
    "col_total_location": "Total (location)",
    "col_total_market": "Total (market)",
    "share": "Share of total",
    "total_row": "Total",
    "scope2_note": "The total uses location-based scope 2; the market-based total replaces it with the "
                   "market-based scope 2 figure (GHG Protocol Scope 2 Guidance). Both are reported.",
    "scope2_note_label": "Scope 2 note",
    "headline_location": "Total emissions (location-based)",
    "headline_market": "Total emissions (market-based)",
    # sections
    "sec_summary": "Summary by scope",
    "sec_month": "Monthly emissions",
    "sec_chart": "Monthly emissions by scope (t CO2e, scope 2 location-based)",
    "sec_site": "Emissions by site",
    "sec_line": "Emissions by production line",
    "sec_site_month": "Emissions by site and month",
    "sec_category": "Emissions by source category",
    "sec_activity": "Emissions by activity",
    "sec_gas": "Emissions by gas",
    "sec_methods": "Comparison of accounting methods",
    "sec_methods_activities": "Activities where the methods differ",
    "sec_production": "Production",
    "sec_notes": "Notes",
    "sec_unquantified": "Activities not quantified",
    "sec_factors": "Emission factors cited",
    "sec_provenance": "Provenance",
    "sec_factor_sets": "Factor-set versions",
    "sec_batches": "Input batches",
    # column headers
    "site": "Site",
    "line": "Line",
    "month": "Month",
    "category": "Category",
    "category_id": "Category id",
    "scope": "Scope",
    "activity": "Activity",
    "activity_id": "Activity id",
    "gas": "Gas",
    "mass_t": "Mass (t)",
    "product": "Product",
    "production_t": "Output (t)",
    "difference": "Difference",
    "difference_note": "Difference = other method minus {method}.",
    "factor_id": "Factor id",
    "factor_set": "Factor set",
    "value": "Value",
    "tag": "Tag",
    "tag_meaning": "Tag meaning",
    "source": "Source",
    "version": "Version",
    "amount": "Amount",
    "records": "Records",
    "reason": "Reason",
    "note_no": "No.",
    "note": "Note",
    "batch_id": "Batch",
    "file": "File",
    "sha256": "SHA-256",
    "input_sha256": "Input SHA-256 (all batches)",
    "record_count": "Activity records used",
    "set_version": "Version hash",
    "key": "Item",
    # factor tags
    "tag_legend": "Factor tags",
    "tag_V": "verified (official or peer-reviewed source)",
    "tag_S": "secondary (unverified)",
    "tag_C": "computed (e.g. from stoichiometry)",
    "tag_U": "user-supplied",
    "tag_unknown": "not tagged",
    # gases
    "gas_CO2e": "reported directly in CO2e",
    # methods and GWP sets
    "method_ghg-protocol": "GHG Protocol Corporate Standard / ISO 14064-1",
    "method_cn-2015": "China 2015 guideline (other non-ferrous metals)",
    "gwp_ar6": "IPCC AR6, 100-year GWP",
    "gwp_ar5": "IPCC AR5, 100-year GWP",
    "method_short_ghg-protocol": "GHG Protocol",
    "method_short_cn-2015": "China 2015 guideline",
    "this_method": "{method} (this report)",
    "with_unit": "{name} / {unit}",
    "unit_short": "t CO2e",
    # source categories
    "cat_stationary_combustion": "Stationary combustion",
    "cat_mobile_combustion": "Mobile combustion",
    "cat_process": "Process emissions",
    "cat_scope2_electricity": "Purchased electricity",
    "cat_cat1_purchased_goods": "Cat. 1 – Purchased goods",
    "cat_cat4_upstream_transport": "Cat. 4 – Upstream transport",
    "cat_cat5_waste": "Cat. 5 – Waste",
    "cat_production": "Production (no emissions)",
    # chart
    "chart_axis": "t CO2e",
    "chart_empty": "No monthly data.",
    "month_1": "Jan", "month_2": "Feb", "month_3": "Mar", "month_4": "Apr", "month_5": "May",
    "month_6": "Jun", "month_7": "Jul", "month_8": "Aug", "month_9": "Sep", "month_10": "Oct",
    "month_11": "Nov", "month_12": "Dec",
    "month_year": "{month} {year}",
    # page footer: "Page 3 of 7"
    "page_before": "Page ",
    "page_middle": " of ",
    "page_after": "",
    "generated_by": "Generated by rareeco {version}",
    # punctuation and short notes
    "colon": ": ",
    "list_sep": "; ",
    "full_stop": ".",
    "values_in_t": "Values in t CO2e.",
    "location_basis_note": "Breakdowns by category, activity and gas use location-based scope 2.",
}

ZH: dict[str, str] = {
    "report_title": "温室气体排放清单报告",
    "report_subtitle": "组织层面范围一、范围二和范围三排放清单",
    "workbook_title": "温室气体排放清单",
    "sheet_summary": "汇总",
    "sheet_site": "按场址",
    "sheet_line": "按产线",
    "sheet_month": "按月份",
    "sheet_category": "按排放类别",
    "sheet_activity": "按活动",
    "sheet_gas": "按温室气体",
    "sheet_factors": "排放因子",
    "sheet_notes": "说明",
    "sheet_provenance": "数据溯源",
    "organisation": "组织",
    "year": "报告年度",
    "period": "报告期",
    "period_value": "{year}年1月1日至{year}年12月31日（自然年）",
    "method": "核算方法",
    "gwp_set": "全球增温潜势（GWP）取值",
    "result_id": "结果编号",
    "status": "状态",
    "status_locked": "已锁定（已核查结果）",
    "status_open": "未锁定（草稿结果）",
    "calculated_at": "计算时间",
    "software_version": "软件版本",
    "unit_t_co2e": "吨二氧化碳当量",
    "unit": "单位",
    "none": "无。",
    "item": "项目",
    "scope1": "范围一 – 直接排放",
    "scope2_location": "范围二 – 外购能源（基于位置）",
    "scope2_market": "范围二 – 外购能源（基于市场）",
    "scope3": "范围三 – 其他间接排放",
    "total_location": "合计（范围二基于位置）",
    "total_market": "合计（范围二基于市场）",
    "col_scope1": "范围一",
    "col_scope2_location": "范围二（基于位置）",
    "col_scope2_market": "范围二（基于市场）",
    "col_scope3": "范围三",
    "col_total_location": "合计（基于位置）",
    "col_total_market": "合计（基于市场）",
    "share": "占总量比例",
    "total_row": "合计",
    "scope2_note": "合计采用基于位置的范围二排放；基于市场的合计以基于市场的范围二排放代替"
                   "（依据《温室气体核算体系范围二指南》）。两者均予报告。",
    "scope2_note_label": "范围二说明",
    "headline_location": "排放总量（基于位置）",
    "headline_market": "排放总量（基于市场）",
    "sec_summary": "按范围汇总",
    "sec_month": "月度排放",
    "sec_chart": "按范围的月度排放（吨二氧化碳当量，范围二基于位置）",
    "sec_site": "按场址排放",
    "sec_line": "按产线排放",
    "sec_site_month": "按场址和月份排放",
    "sec_category": "按排放源类别排放",
    "sec_activity": "按活动排放",
    "sec_gas": "按温室气体排放",
    "sec_methods": "核算方法对比",
    "sec_methods_activities": "两种方法结果不同的活动",
    "sec_production": "产品产量",
    "sec_notes": "说明",
    "sec_unquantified": "未量化的活动",
    "sec_factors": "引用的排放因子",
    "sec_provenance": "数据溯源",
    "sec_factor_sets": "因子集版本",
    "sec_batches": "输入数据批次",
    "site": "场址",
    "line": "产线",
    "month": "月份",
    "category": "类别",
    "category_id": "类别编号",
    "scope": "范围",
    "activity": "活动",
    "activity_id": "活动编号",
    "gas": "气体",
    "mass_t": "质量（吨）",
    "product": "产品",
    "production_t": "产量（吨）",
    "difference": "差值",
    "difference_note": "差值 = 其他方法减去{method}。",
    "factor_id": "因子编号",
    "factor_set": "因子集",
    "value": "数值",
    "tag": "标记",
    "tag_meaning": "标记含义",
    "source": "来源",
    "version": "版本",
    "amount": "数量",
    "records": "记录数",
    "reason": "原因",
    "note_no": "序号",
    "note": "说明",
    "batch_id": "批次",
    "file": "文件",
    "sha256": "SHA-256",
    "input_sha256": "输入数据 SHA-256（全部批次）",
    "record_count": "使用的活动数据记录数",
    "set_version": "版本哈希",
    "key": "项目",
    "tag_legend": "因子标记",
    "tag_V": "已核实（官方或同行评审来源）",
    "tag_S": "二手数据（未核实）",
    "tag_C": "计算得出（如按化学计量）",
    "tag_U": "用户提供",
    "tag_unknown": "未标记",
    "gas_CO2e": "直接以二氧化碳当量报告",
    "method_ghg-protocol": "温室气体核算体系企业标准 / ISO 14064-1",
    "method_cn-2015": "《其他有色金属冶炼和压延加工业企业温室气体排放核算方法与报告指南（试行）》（2015）",
    "gwp_ar6": "IPCC 第六次评估报告，100 年 GWP",
    "gwp_ar5": "IPCC 第五次评估报告，100 年 GWP",
    "method_short_ghg-protocol": "温室气体核算体系",
    "method_short_cn-2015": "2015 年核算指南",
    "this_method": "{method}（本报告）",
    "with_unit": "{name}/{unit}",
    "unit_short": "tCO2e",
    "cat_stationary_combustion": "固定燃烧",
    "cat_mobile_combustion": "移动燃烧",
    "cat_process": "工业过程排放",
    "cat_scope2_electricity": "外购电力",
    "cat_cat1_purchased_goods": "类别 1 – 外购商品",
    "cat_cat4_upstream_transport": "类别 4 – 上游运输",
    "cat_cat5_waste": "类别 5 – 废弃物",
    "cat_production": "产品产量（非排放源）",
    "chart_axis": "吨二氧化碳当量",
    "chart_empty": "无月度数据。",
    "month_1": "1月", "month_2": "2月", "month_3": "3月", "month_4": "4月", "month_5": "5月",
    "month_6": "6月", "month_7": "7月", "month_8": "8月", "month_9": "9月", "month_10": "10月",
    "month_11": "11月", "month_12": "12月",
    "month_year": "{year}年{month}",
    "page_before": "第 ",
    "page_middle": " 页，共 ",
    "page_after": " 页",
    "generated_by": "由 rareeco {version} 生成",
    "colon": "：",
    "list_sep": "；",
    "full_stop": "。",
    "values_in_t": "单位：吨二氧化碳当量。",
    "location_basis_note": "按类别、活动和气体的分项采用基于位置的范围二排放。",
}

LABELS: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


def lang_code(lang: str) -> Lang:
    """``"zh"`` for any language tag starting with ``zh`` (``zh-CN``, ``zh_Hans`` …), else ``"en"``."""
    return "zh" if lang.lower().startswith("zh") else "en"


def labels(lang: str) -> dict[str, str]:
    """The label dict of ``lang`` (see :func:`lang_code`)."""
    return LABELS[lang_code(lang)]


def month_name(L: dict[str, str], key: str) -> str:
    """A ``YYYY-MM`` month as a report names it with its labels ``L`` (``month_value``, ``month_1`` …)."""
    year, _, month = key.partition("-")
    return L["month_value"].format(month=L[f"month_{int(month)}"], year=year) if month.isdigit() else key


def lookup(lang: str, key: str, default: str | None = None) -> str:
    """Label ``key`` in ``lang``; ``default`` (or the key itself) when there is none.

    Used for labels derived from data (``method_<id>``, ``cat_<id>``, ``tag_<T>``) where the data
    may name something newer than this table.
    """
    return labels(lang).get(key, key if default is None else default)


def method_label(lang: str, method: str) -> str:
    """Human name of an accounting method id such as ``ghg-protocol``."""
    return lookup(lang, f"method_{method}", method)


def method_short(lang: str, method: str) -> str:
    """Short name of an accounting method id, for column headers."""
    return lookup(lang, f"method_short_{method}", method)


def gwp_label(lang: str, gwp_set: str) -> str:
    """Human name of a GWP set id such as ``ar6``."""
    return lookup(lang, f"gwp_{gwp_set.lower()}", gwp_set.upper())


def category_label(lang: str, category: str) -> str:
    """Human name of a source category id such as ``stationary_combustion``."""
    return lookup(lang, f"cat_{category}", category)


def tag_label(lang: str, tag: str) -> str:
    """Meaning of a factor tag: V verified, S secondary, C computed, U user-supplied."""
    return lookup(lang, f"tag_{tag}", labels(lang)["tag_unknown"])

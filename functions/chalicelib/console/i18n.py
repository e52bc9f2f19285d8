"""zh-CN and en messages of the console. The language comes from the ``dr_lang`` cookie, else the
browser's Accept-Language (first supported tag by q-value), else zh-CN."""
from __future__ import annotations

LANGS = ("zh-CN", "en")

MESSAGES: dict[str, tuple[str, str]] = {  # key: (zh-CN, en)
    "app": ("商机报备控制台", "Deal registration console"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "api_key": ("API 密钥", "API key"),
    "api_key_help": ("用您的 API 密钥登录；密钥不会保存在浏览器中。", "Log in with your API key; it is not kept in the browser."),
    "login_failed": ("密钥无效、已吊销或账号已停用。", "Unknown, revoked or inactive key."),
    "session_expired": ("会话已过期，请重新登录。", "Your session has ended; please log in again."),
    "csrf_failed": ("请求已失效（CSRF 校验失败），请重试。", "The request was refused (CSRF check failed); try again."),
    "language": ("语言", "Language"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "nav_mine": ("我的报备", "My registrations"),
    "nav_register": ("新建报备", "Register"),
    "nav_precheck": ("客户查重", "Pre-check"),
    "nav_queue": ("审批队列", "Approval queue"),
    "nav_pool": ("公海", "Pool"),
    "role_partner": ("合作伙伴", "Partner"),
    "role_rep": ("销售", "Rep"),
    "role_manager": ("经理", "Manager"),
    "role_admin": ("管理员", "Admin"),
    "none_yet": ("暂无记录。", "Nothing here yet."),
    "next_page": ("下一页", "Next page"),
    "customer": ("客户", "Customer"),
    "customer.name": ("客户名称", "Customer name"),
    "customer.registry_ids.0.scheme": ("证照类型", "Registry"),
    "customer.registry_ids.0.value": ("统一社会信用代码 / 注册号", "Registry id"),
    "customer.website": ("网站域名", "Website domain"),
    "customer.country": ("国家/地区代码", "Country code"),
    "customer.region": ("省/市", "Region"),
    "customer.industry": ("行业", "Industry"),
    "contacts.0.name": ("联系人", "Contact name"),
    "contacts.0.role": ("联系人角色", "Contact role"),
    "contacts.0.title": ("职务", "Job title"),
    "contacts.0.email": ("邮箱", "Email"),
    "contacts.0.phone": ("电话", "Phone"),
    "project.title": ("项目名称", "Project title"),
    "project.background": ("项目背景", "Background"),
    "project.products": ("产品（逗号分隔）", "Products (comma separated)"),
    "project.expected_amount.amount": ("预计金额", "Expected amount"),
    "project.expected_amount.currency": ("币种", "Currency"),
    "project.expected_close_date": ("预计成交日期", "Expected close date"),
    "competitors": ("竞争对手（逗号分隔）", "Competitors (comma separated)"),
    "sales_stage": ("销售阶段", "Sales stage"),
    "external_ref": ("贵方编号", "Your reference"),
    "submit": ("提交", "Submit"),
    "save": ("保存", "Save"),
    "registered": ("已提交报备", "Registration submitted"),
    "form_errors": ("请修改标出的字段。", "Please correct the marked fields."),
    "err_missing": ("必填", "Required"),
    "err_invalid": ("格式不正确", "Not valid"),
    "check": ("查重", "Check"),
    "precheck_help": ("先查一下客户是否已被报备，再填写其余内容。", "Check whether the customer is already registered before filling in the rest."),
    "answer_free": ("可报备：该客户尚未被保护。", "Free: nobody protects this customer."),
    "answer_yours": ("已是您的客户。", "Yours: you already registered this customer."),
    "answer_protected": ("受保护：该客户已被他人报备。", "Protected: someone else holds this customer."),
    "status": ("状态", "Status"),
    "created": ("创建时间", "Created"),
    "amount": ("金额", "Amount"),
    "owner": ("负责人", "Owner"),
    "history": ("状态历史", "Status history"),
    "audit": ("审计时间线", "Audit timeline"),
    "actor": ("操作人", "By"),
    "action": ("操作", "Action"),
    "reason": ("原因", "Reason"),
    "withdraw": ("撤回", "Withdraw"),
    "edit": ("编辑", "Edit"),
    "resubmit": ("重新提交", "Resubmit"),
    "approve": ("批准", "Approve"),
    "reject": ("驳回", "Reject"),
    "approve_escalates": ("批准本级（将升级至下一级审批）", "Approve this level (escalates to the next level)"),
    "levels": ("审批级别", "Approval levels"),
    "done": ("操作成功", "Done"),
    "refused": ("操作被拒绝", "Refused"),
    "not_found": ("没有这条报备，或您无权查看。", "No such registration, or you may not see it."),
    "conflict_mark": ("重复", "Conflict"),
    "dedup_evidence": ("查重证据", "Duplicate evidence"),
    "verdict": ("查重结论", "Verdict"),
    "verdict_pending": ("查重尚未完成。", "The duplicate check has not finished."),
    "check_report": ("自动检查报告", "Check report"),
    "sla_age": ("等待时长", "Waiting"),
    "hours": ("小时", "h"),
    "days": ("天", "d"),
    "move_stage": ("变更阶段", "Move stage"),
    "nav_board": ("商机看板", "Pipeline board"),
    "count": ("数量", "Count"),
    "weighted": ("加权预测", "Weighted forecast"),
    "all_teams": ("全部团队", "All teams"),
    "team": ("团队", "Team"),
    "filter": ("筛选", "Filter"),
    "claim": ("领取", "Claim"),
    "release": ("释放到公海", "Release to pool"),
    "pool_help": ("公海中的商机可由销售领取。", "Registrations in the pool can be claimed by reps."),
    "protection_left": ("保护期剩余", "Protection left"),
    "due": ("到期", "Due"),
    "holding_strip": ("持有 {held} / 上限 {limit}，还可领取 {room} 个", "Holding {held} of {limit}; room for {room} more"),
    "followups": ("跟进记录", "Follow-ups"),
    "add_followup": ("记录跟进", "Log a follow-up"),
    "followup_note": ("跟进内容", "Follow-up note"),
    "ownership": ("归属", "Ownership"),
    "region": ("地区", "Region"),
    "industry": ("行业", "Industry"),
    "earlier": ("更早的竞争报备", "Earlier competing registrations"),
    "candidate": ("候选", "Candidate"),
    "score": ("得分", "Score"),
    "rule": ("规则", "Rule"),
    "holder": ("持有人", "Holder"),
    "st_submitted": ("已提交", "submitted"),
    "st_pending_review": ("待审批", "pending_review"),
    "st_approved": ("已批准", "approved"),
    "st_rejected": ("已驳回", "rejected"),
    "st_withdrawn": ("已撤回", "withdrawn"),
    "st_won": ("赢单", "won"),
    "st_lost": ("丢单", "lost"),
    "st_expired": ("已过期", "expired"),
    "st_reclaimed": ("已回收（公海）", "reclaimed (pool)"),
    "forbidden": ("您的角色无权进行此操作。", "Your role may not do this."),
    "stage_closed_won": ("赢单关闭", "Closed won"),
    "stage_closed_lost": ("丢单关闭", "Closed lost"),
    # board cards
    "days_in_stage": ("本阶段天数", "Days in stage"),
    "protection_days_left": ("保护期剩余天数", "Protection days left"),
    "partner": ("伙伴", "Partner"),
    "cards_truncated": ("只显示前若干张卡片；请用筛选缩小范围。", "Only the first cards are shown; narrow them with the filters."),
    "move": ("移动", "Move"),
    # cockpit (驾驶舱)
    "nav_cockpit": ("驾驶舱", "Cockpit"),
    "ck_window": ("统计周期（周）", "Weeks shown"),
    "ck_new_per_day": ("每日新增报备", "New registrations per day"),
    "ck_weekly": ("每周新增与转化（按提交周）", "Per week: new and converted (by week submitted)"),
    "ck_conflicts_reclaims": ("每周冲突与回收", "Conflicts and reclaims per week"),
    "ck_conversion": ("转化漏斗：提交 → 批准 → 赢单", "Conversion: submitted → approved → won"),
    "ck_stays": ("各阶段停留天数（平均 / P90）", "Days in each stage (average / p90)"),
    "ck_forecast": ("按预计成交月的加权预测", "Weighted forecast by month of expected close"),
    "ck_top_partners": ("伙伴排行（全部时间）", "Top partners (all time)"),
    "ck_new": ("新增", "New"),
    "ck_approved": ("批准", "Approved"),
    "ck_won": ("赢单", "Won"),
    "ck_lost": ("丢单", "Lost"),
    "ck_conflict": ("冲突", "Conflicts"),
    "ck_reclaimed": ("回收", "Reclaimed"),
    "ck_approval_rate": ("批准率", "Approval rate"),
    "ck_won_of_approved": ("批准后赢单率", "Won of approved"),
    "ck_win_rate": ("赢率（赢 / 赢+丢）", "Win rate (won / won+lost)"),
    "ck_avg_days": ("平均天数", "Average days"),
    "ck_p90_days": ("P90 天数", "p90 days"),
    "ck_stays_n": ("完成停留次数", "Completed stays"),
    "ck_bottleneck": ("瓶颈阶段", "Bottleneck stage"),
    "ck_stage": ("阶段", "Stage"),
    "ck_day": ("日期", "Day"),
    "ck_week": ("周（周一）", "Week (Monday)"),
    "ck_month": ("月份", "Month"),
    "ck_partner": ("伙伴", "Partner"),
    "ck_submitted": ("提交", "Submitted"),
    "ck_export": ("导出 CSV", "Export CSV"),
    "ck_numbers": ("数据表", "Numbers"),
    "ck_cells": ("本页读取的聚合项", "Aggregate items read for this page"),
    "ck_p90_note": ("P90 为所在分桶的上限（1、2、3、5、7、10、14、21、30、45、60、90、120、180、365 天）。",
                    "p90 is the upper bound of its bucket (1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 365 days)."),
}


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGS:
        return cookie
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "zh-CN"


def translator(lang: str):
    idx = 0 if lang == "zh-CN" else 1

    def t(key: str) -> str:
        pair = MESSAGES.get(key)
        return pair[idx] if pair else key

    return t

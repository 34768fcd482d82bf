<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN" sourcelanguage="en">
<context>
    <name>AccountsModel</name>
    <message>
        <source>Licence</source>
        <translation>执业证号</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>姓名</translation>
    </message>
    <message>
        <source>Roles</source>
        <translation>角色</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Signing credential</source>
        <translation>签名证书</translation>
    </message>
    <message>
        <source>locked</source>
        <translation>已锁定</translation>
    </message>
    <message>
        <source>locked out after failed sign-ins</source>
        <translation>多次登录失败，已锁定</translation>
    </message>
    <message>
        <source>active</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>enrolled</source>
        <translation>已签发</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
</context>
<context>
    <name>AddAccountDialog</name>
    <message>
        <source>Add account</source>
        <translation>添加账户</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>姓名</translation>
    </message>
    <message>
        <source>Licence / staff number</source>
        <translation>执业证号 / 工号</translation>
    </message>
    <message>
        <source>First password (the user changes it)</source>
        <translation>初始密码（用户首次登录后修改）</translation>
    </message>
    <message>
        <source>Roles</source>
        <translation>角色</translation>
    </message>
</context>
<context>
    <name>AdminDialog</name>
    <message>
        <source>Administration</source>
        <translation>系统管理</translation>
    </message>
    <message>
        <source>Administration needs an administrator&apos;s own sign-in.</source>
        <translation>系统管理需要管理员本人登录。</translation>
    </message>
    <message>
        <source>Sign in</source>
        <translation>登录</translation>
    </message>
    <message>
        <source>Licence / staff number</source>
        <translation>执业证号 / 工号</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <source>Add account…</source>
        <translation>添加账户…</translation>
    </message>
    <message>
        <source>Lock</source>
        <translation>锁定</translation>
    </message>
    <message>
        <source>Unlock</source>
        <translation>解锁</translation>
    </message>
    <message>
        <source>Enrol signing credential…</source>
        <translation>签发签名证书…</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>正在核验…</translation>
    </message>
    <message>
        <source>%1 is not an administrator: administration is refused.</source>
        <translation>%1 不是管理员：拒绝进入系统管理。</translation>
    </message>
    <message>
        <source>Account %1 added.</source>
        <translation>已添加账户 %1。</translation>
    </message>
    <message>
        <source>Lock %1</source>
        <translation>锁定 %1</translation>
    </message>
    <message>
        <source>Why is this account locked?</source>
        <translation>锁定该账户的原因？</translation>
    </message>
    <message>
        <source>%1 locked.</source>
        <translation>%1 已锁定。</translation>
    </message>
    <message>
        <source>%1 unlocked.</source>
        <translation>%1 已解锁。</translation>
    </message>
    <message>
        <source>%1 enrolled: a signing credential was issued.</source>
        <translation>%1 已签发签名证书。</translation>
    </message>
</context>
<context>
    <name>BatchChooser</name>
    <message>
        <source>Print the day&apos;s labels — %1</source>
        <translation>打印当日标签 — %1</translation>
    </message>
    <message>
        <source>(printed before)</source>
        <translation>（已打印过）</translation>
    </message>
    <message>
        <source>%1 approved; labels printed before need a reprint and are left out.</source>
        <translation>当日审核通过 %1 张；已打印过的需补打，不在本批中。</translation>
    </message>
    <message>
        <source>Label stock</source>
        <translation>标签规格</translation>
    </message>
</context>
<context>
    <name>Dashboard</name>
    <message>
        <source>On-duty coverage</source>
        <translation>药师在岗</translation>
    </message>
    <message>
        <source>On duty now</source>
        <translation>当前在岗</translation>
    </message>
    <message>
        <source>Rostered now</source>
        <translation>当前排班</translation>
    </message>
    <message>
        <source>Signed in</source>
        <translation>已登录</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>待审核</translation>
    </message>
    <message>
        <source>Waiting, median (min)</source>
        <translation>等待时长中位数（分钟）</translation>
    </message>
    <message>
        <source>Waiting, 90th percentile (min)</source>
        <translation>等待时长 90 分位（分钟）</translation>
    </message>
    <message>
        <source>Arrived during a gap, still waiting</source>
        <translation>缺口期间到达、仍在等待</translation>
    </message>
    <message>
        <source>Today&apos;s coverage so far</source>
        <translation>今日截至目前覆盖率</translation>
    </message>
    <message>
        <source>Pharmacist</source>
        <translation>药师</translation>
    </message>
    <message>
        <source>Approved</source>
        <translation>通过</translation>
    </message>
    <message>
        <source>Rejected</source>
        <translation>不通过</translation>
    </message>
    <message>
        <source>Returned</source>
        <translation>退回</translation>
    </message>
    <message>
        <source>Median minutes per decision</source>
        <translation>每张处方用时中位数（分钟）</translation>
    </message>
    <message>
        <source>Workload today (counts and pace only)</source>
        <translation>今日工作量（仅数量与用时）</translation>
    </message>
    <message>
        <source>Timeline</source>
        <translation>时间线</translation>
    </message>
    <message>
        <source>Today</source>
        <translation>今日</translation>
    </message>
    <message>
        <source>This week</source>
        <translation>本周</translation>
    </message>
    <message>
        <source>This month</source>
        <translation>本月</translation>
    </message>
    <message>
        <source>Monthly &amp;report…</source>
        <translation>月度报告(&amp;R)…</translation>
    </message>
    <message>
        <source>This month&apos;s coverage report for inspections, signed off by you</source>
        <translation>本月在岗覆盖报告（供检查），由您签发确认</translation>
    </message>
    <message>
        <source>nobody</source>
        <translation>无人</translation>
    </message>
    <message>
        <source>Coverage so far %1% — planned gaps (nobody rostered, orange) %2, actual gaps (nobody on duty, red) %3</source>
        <translation>截至目前覆盖率 %1% — 排班缺口（无人排班，橙色）%2 处，实际缺口（无人在岗，红色）%3 处</translation>
    </message>
    <message>
        <source>Business hours</source>
        <translation>营业时间</translation>
    </message>
    <message>
        <source>Rostered (review)</source>
        <translation>排班（审方）</translation>
    </message>
    <message>
        <source>Present</source>
        <translation>在岗</translation>
    </message>
    <message>
        <source>Coverage report %1</source>
        <translation>在岗覆盖月报 %1</translation>
    </message>
</context>
<context>
    <name>DecisionPanel</name>
    <message>
        <source>Approve</source>
        <translation>审核通过</translation>
    </message>
    <message>
        <source>Reject</source>
        <translation>审核不通过</translation>
    </message>
    <message>
        <source>Return to prescriber</source>
        <translation>退回医师</translation>
    </message>
    <message>
        <source>Acknowledge warnings</source>
        <translation>确认警示</translation>
    </message>
    <message>
        <source>Warnings to acknowledge (%1)</source>
        <translation>待确认的警示（%1）</translation>
    </message>
    <message>
        <source>Choose a reason…</source>
        <translation>选择原因…</translation>
    </message>
    <message>
        <source>Comment for the prescriber (required)</source>
        <translation>给医师的说明（必填）</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Reason:</source>
        <translation>原因：</translation>
    </message>
    <message>
        <source>Comment:</source>
        <translation>说明：</translation>
    </message>
    <message>
        <source>Diagnosis does not match the drugs</source>
        <translation>诊断与用药不符</translation>
    </message>
    <message>
        <source>Inappropriate dose</source>
        <translation>用法用量不适宜</translation>
    </message>
    <message>
        <source>Duplicate therapy</source>
        <translation>重复用药</translation>
    </message>
    <message>
        <source>Drug interaction</source>
        <translation>药物相互作用</translation>
    </message>
    <message>
        <source>Off-label use</source>
        <translation>超说明书用药</translation>
    </message>
    <message>
        <source>Incomplete information</source>
        <translation>处方信息不全</translation>
    </message>
    <message>
        <source>Controlled drug: not prescribable online</source>
        <translation>特殊管理药品，不得在线开具</translation>
    </message>
    <message>
        <source>Not a follow-up or diagnosis unconfirmed</source>
        <translation>非复诊或诊断未经确诊</translation>
    </message>
    <message>
        <source>Other</source>
        <translation>其他</translation>
    </message>
    <message>
        <source>Decision on %1, version %2</source>
        <translation>处方 %1 审核（第 %2 版）</translation>
    </message>
    <message>
        <source>No prescription open</source>
        <translation>未打开处方</translation>
    </message>
    <message>
        <source>No prescription open.</source>
        <translation>未打开处方。</translation>
    </message>
    <message>
        <source>Decided.</source>
        <translation>已审核。</translation>
    </message>
    <message>
        <source>Not checked, so it cannot be approved: %1</source>
        <translation>尚未完成规则审查，不能审核通过：%1</translation>
    </message>
    <message numerus="yes">
        <source>%n blocking finding(s):</source>
        <translation>
            <numerusform>%n 条拦截问题：</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n warning(s) to acknowledge:</source>
        <translation>
            <numerusform>%n 条警示待确认：</numerusform>
        </translation>
    </message>
    <message>
        <source>Warning</source>
        <translation>警示</translation>
    </message>
    <message>
        <source>Pick a reason…</source>
        <translation>选择理由…</translation>
    </message>
    <message>
        <source>or type a reason</source>
        <translation>或输入理由</translation>
    </message>
    <message>
        <source>Working…</source>
        <translation>处理中…</translation>
    </message>
    <message>
        <source>Nothing stands in the way: approve with %1.</source>
        <translation>无拦截问题，可按 %1 审核通过。</translation>
    </message>
    <message>
        <source>Choose a reason code.</source>
        <translation>请选择原因。</translation>
    </message>
    <message>
        <source>A comment is required.</source>
        <translation>请填写说明。</translation>
    </message>
    <message>
        <source>Sign in as a pharmacist to decide.</source>
        <translation>请以药师身份登录后审核。</translation>
    </message>
    <message>
        <source>Approved and signed: %1 version %2</source>
        <translation>已审核通过并签名：%1 第 %2 版</translation>
    </message>
    <message>
        <source>Note:</source>
        <translation>注意：</translation>
    </message>
    <message>
        <source>Approval refused</source>
        <translation>不能审核通过</translation>
    </message>
    <message>
        <source>Confirm: %1</source>
        <translation>确认%1</translation>
    </message>
    <message>
        <source>Rejected: %1 version %2</source>
        <translation>审核不通过：%1 第 %2 版</translation>
    </message>
    <message>
        <source>Returned to the prescriber: %1 version %2</source>
        <translation>已退回医师：%1 第 %2 版</translation>
    </message>
    <message>
        <source>Decision refused</source>
        <translation>审核操作被拒绝</translation>
    </message>
    <message>
        <source>The decision could not be stored: %1</source>
        <translation>审核结论未能保存：%1</translation>
    </message>
</context>
<context>
    <name>EnrolDialog</name>
    <message>
        <source>Enrol %1</source>
        <translation>为 %1 签发签名证书</translation>
    </message>
    <message>
        <source>Hand the keyboard to %1: they type their password and choose a signing PIN.</source>
        <translation>请将键盘交给 %1：由本人输入密码并设置签名 PIN。</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <source>Signing PIN</source>
        <translation>签名 PIN</translation>
    </message>
    <message>
        <source>Signing PIN again</source>
        <translation>再次输入签名 PIN</translation>
    </message>
    <message>
        <source>The two PINs differ.</source>
        <translation>两次输入的 PIN 不一致。</translation>
    </message>
</context>
<context>
    <name>LabelPreview</name>
    <message>
        <source>%1 pages on %2</source>
        <translation>共 %1 页，%2 纸</translation>
    </message>
    <message>
        <source>%1 labels on %2 stock</source>
        <translation>共 %1 张标签，规格 %2</translation>
    </message>
    <message>
        <source>Use as this workstation&apos;s label printer</source>
        <translation>设为本工作站的标签打印机</translation>
    </message>
    <message>
        <source>Printer</source>
        <translation>打印机</translation>
    </message>
    <message>
        <source>No printer is installed on this computer: save the labels as PDF instead.</source>
        <translation>本机未安装打印机：请将标签另存为 PDF。</translation>
    </message>
    <message>
        <source>&amp;Print</source>
        <translation>打印(&amp;P)</translation>
    </message>
    <message>
        <source>&amp;Save as PDF…</source>
        <translation>另存为 PDF(&amp;S)…</translation>
    </message>
    <message>
        <source>Save labels as PDF</source>
        <translation>将标签另存为 PDF</translation>
    </message>
    <message>
        <source>PDF (*.pdf)</source>
        <translation>PDF 文件 (*.pdf)</translation>
    </message>
    <message>
        <source>Could not save %1: %2</source>
        <translation>无法保存 %1：%2</translation>
    </message>
    <message>
        <source>Saved: %1</source>
        <translation>已保存：%1</translation>
    </message>
</context>
<context>
    <name>LockScreen</name>
    <message>
        <source>Unlock</source>
        <translation>解锁</translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation>退出登录</translation>
    </message>
    <message>
        <source>Locked — %1
%2</source>
        <translation>已锁定 — %1
%2</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>DEMO MODE — made-up patients and a throwaway demo CA; nothing is dispensed.</source>
        <translation>演示模式 — 虚构患者、临时演示 CA；不会实际调配发药。</translation>
    </message>
    <message>
        <source>Locked after 10 idle minutes.</source>
        <translation>空闲 10 分钟，已自动锁定。</translation>
    </message>
    <message>
        <source>Rx Review Workstation</source>
        <translation>处方审核工作站</translation>
    </message>
    <message>
        <source>%1 — %2</source>
        <translation>%1 — %2</translation>
    </message>
    <message>
        <source>Claim &amp;next</source>
        <translation>认领下一张(&amp;N)</translation>
    </message>
    <message>
        <source>Claim the next waiting prescription and open it</source>
        <translation>认领下一张待审处方并打开</translation>
    </message>
    <message>
        <source>&amp;Claim selected</source>
        <translation>认领所选(&amp;C)</translation>
    </message>
    <message>
        <source>Claim the prescription selected in the queue</source>
        <translation>认领队列中选中的处方</translation>
    </message>
    <message>
        <source>&amp;Open selected</source>
        <translation>打开所选(&amp;O)</translation>
    </message>
    <message>
        <source>Open the prescription selected in the queue (Return)</source>
        <translation>打开队列中选中的处方（回车）</translation>
    </message>
    <message>
        <source>&amp;Refresh</source>
        <translation>刷新(&amp;R)</translation>
    </message>
    <message>
        <source>Take in new prescriptions and refresh the queue</source>
        <translation>接收新处方并刷新队列</translation>
    </message>
    <message>
        <source>&amp;Search</source>
        <translation>搜索(&amp;S)</translation>
    </message>
    <message>
        <source>Search by prescription number or patient</source>
        <translation>按处方号或患者搜索</translation>
    </message>
    <message>
        <source>&amp;Lock screen</source>
        <translation>锁屏(&amp;L)</translation>
    </message>
    <message>
        <source>Locked on request.</source>
        <translation>已手动锁定。</translation>
    </message>
    <message>
        <source>Lock the workstation; the password unlocks it</source>
        <translation>锁定工作站；输入密码解锁</translation>
    </message>
    <message>
        <source>Se&amp;ttings…</source>
        <translation>设置(&amp;T)…</translation>
    </message>
    <message>
        <source>Language, font size, database and endpoints</source>
        <translation>语言、字号、数据库和接口地址</translation>
    </message>
    <message>
        <source>&amp;Administration…</source>
        <translation>系统管理(&amp;A)…</translation>
    </message>
    <message>
        <source>Accounts and signing credentials (administrator sign-in)</source>
        <translation>账户与签名证书（需管理员登录）</translation>
    </message>
    <message>
        <source>Sign &amp;out</source>
        <translation>退出登录(&amp;O)</translation>
    </message>
    <message>
        <source>Give back the claim and sign out</source>
        <translation>释放认领并退出登录</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>Quit the workstation</source>
        <translation>退出工作站</translation>
    </message>
    <message>
        <source>Print &amp;labels…</source>
        <translation>打印标签(&amp;L)…</translation>
    </message>
    <message>
        <source>Print the dispensing labels of the approved prescription selected in the queue</source>
        <translation>打印队列中所选已审核通过处方的调配标签</translation>
    </message>
    <message>
        <source>Print the &amp;day&apos;s labels…</source>
        <translation>打印当日标签(&amp;D)…</translation>
    </message>
    <message>
        <source>Print the labels of today&apos;s approved prescriptions in one job</source>
        <translation>将今日审核通过处方的标签一次打印</translation>
    </message>
    <message>
        <source>Chec&amp;k a label…</source>
        <translation>核验标签(&amp;K)…</translation>
    </message>
    <message>
        <source>Scan or type a label&apos;s QR code: does it belong to an approved, unaltered prescription?</source>
        <translation>扫描或输入标签二维码：是否属于审核通过且未被改动的处方？</translation>
    </message>
    <message>
        <source>On-duty &amp;coverage…</source>
        <translation>在岗看板(&amp;C)…</translation>
    </message>
    <message>
        <source>Who is on duty, the backlog, waiting times and the coverage timeline (leads)</source>
        <translation>谁在岗、积压、等待时长与在岗时间线（药房负责人）</translation>
    </message>
    <message>
        <source>&amp;Roster…</source>
        <translation>排班(&amp;R)…</translation>
    </message>
    <message>
        <source>The week&apos;s shifts: a lead edits them (each change asks why); a pharmacist sees their own</source>
        <translation>本周排班：药房负责人编辑（每次变更须注明原因）；药师查看自己的班次</translation>
    </message>
    <message>
        <source>&amp;Keyboard shortcuts</source>
        <translation>快捷键(&amp;K)</translation>
    </message>
    <message>
        <source>List every keyboard shortcut</source>
        <translation>列出全部快捷键</translation>
    </message>
    <message>
        <source>&amp;Prescription</source>
        <translation>处方(&amp;P)</translation>
    </message>
    <message>
        <source>&amp;Decision</source>
        <translation>审核(&amp;D)</translation>
    </message>
    <message>
        <source>La&amp;bels</source>
        <translation>标签(&amp;B)</translation>
    </message>
    <message>
        <source>&amp;Workstation</source>
        <translation>工作站(&amp;W)</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>Keyboard shortcuts</source>
        <translation>快捷键</translation>
    </message>
    <message>
        <source>Could not refresh: %1</source>
        <translation>刷新失败：%1</translation>
    </message>
    <message>
        <source>New high-risk prescriptions: %1</source>
        <translation>新到高风险处方：%1</translation>
    </message>
    <message>
        <source>Select a prescription in the queue first.</source>
        <translation>请先在队列中选择处方。</translation>
    </message>
    <message>
        <source>The queue is empty: no prescription is waiting.</source>
        <translation>队列为空：没有待审处方。</translation>
    </message>
    <message>
        <source>Could not claim: %1</source>
        <translation>认领失败：%1</translation>
    </message>
    <message>
        <source>Select an approved prescription in the queue first.</source>
        <translation>请先在队列中选择一张已审核通过的处方。</translation>
    </message>
    <message>
        <source>The labels of %1 were printed before. Print them again, marked 补打 (reprint)?</source>
        <translation>处方 %1 的标签已打印过。是否补打（标签将标注“补打”）？</translation>
    </message>
    <message>
        <source>Labels not printed</source>
        <translation>标签未打印</translation>
    </message>
    <message>
        <source>Labels — %1</source>
        <translation>标签 — %1</translation>
    </message>
    <message>
        <source>Nothing was approved today.</source>
        <translation>今日没有审核通过的处方。</translation>
    </message>
    <message>
        <source>Preparing labels…</source>
        <translation>正在准备标签…</translation>
    </message>
    <message>
        <source>Some labels were not printed</source>
        <translation>部分标签未打印</translation>
    </message>
    <message>
        <source>%1 prescriptions</source>
        <translation>%1 张处方</translation>
    </message>
    <message>
        <source>Check a label</source>
        <translation>核验标签</translation>
    </message>
    <message>
        <source>Scan the label&apos;s QR code, or type its text:</source>
        <translation>请扫描标签二维码，或输入其内容：</translation>
    </message>
    <message>
        <source>Valid: prescription %1 v%2 for %3, approved and signed by %4 at %5; unaltered.</source>
        <translation>标签有效：处方 %1 第%2版，患者 %3，由 %4 于 %5 审核通过并签名，内容未被改动。</translation>
    </message>
    <message>
        <source>Label check</source>
        <translation>标签核验</translation>
    </message>
    <message>
        <source>NOT valid: %1</source>
        <translation>标签无效：%1</translation>
    </message>
    <message>
        <source>Could not open the prescription: %1</source>
        <translation>无法打开处方：%1</translation>
    </message>
    <message>
        <source>Your claim on %1 has expired and the prescription went back to the queue. Claim it again to decide.</source>
        <translation>您对 %1 的认领已过期，处方已退回队列。请重新认领后再审核。</translation>
    </message>
    <message>
        <source>%1 decided (%2). Claiming the next…</source>
        <translation>%1 已审核（%2）。正在认领下一张…</translation>
    </message>
    <message>
        <source>%1 release(s) queued again.</source>
        <translation>已将 %1 张处方重新排队发送。</translation>
    </message>
</context>
<context>
    <name>PasswordCheck</name>
    <message>
        <source>Licence number, e.g. YS-DEMO-0001</source>
        <translation>执业证号，例如 YS-DEMO-0001</translation>
    </message>
    <message>
        <source>&amp;Licence number:</source>
        <translation>执业证号(&amp;L)：</translation>
    </message>
    <message>
        <source>&amp;Password:</source>
        <translation>密码(&amp;P)：</translation>
    </message>
    <message>
        <source>Enter your licence number and password.</source>
        <translation>请输入执业证号和密码。</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>正在验证…</translation>
    </message>
    <message>
        <source>Sign-in failed.</source>
        <translation>登录失败。</translation>
    </message>
    <message>
        <source>Sign-in failed: %1</source>
        <translation>登录失败：%1</translation>
    </message>
</context>
<context>
    <name>PrescriptionView</name>
    <message>
        <source>No prescription open. Ctrl+N claims the next one; Return opens the one selected in the queue.</source>
        <translation>未打开处方。Ctrl+N 领取下一张；回车打开队列中选中的处方。</translation>
    </message>
    <message>
        <source>Findings</source>
        <translation>审核发现</translation>
    </message>
    <message>
        <source>Items</source>
        <translation>药品明细</translation>
    </message>
    <message>
        <source>Drug</source>
        <translation>药品</translation>
    </message>
    <message>
        <source>Strength</source>
        <translation>规格</translation>
    </message>
    <message>
        <source>Dose</source>
        <translation>单次剂量</translation>
    </message>
    <message>
        <source>Frequency</source>
        <translation>频次</translation>
    </message>
    <message>
        <source>Route</source>
        <translation>给药途径</translation>
    </message>
    <message>
        <source>Days</source>
        <translation>天数</translation>
    </message>
    <message>
        <source>Quantity</source>
        <translation>数量</translation>
    </message>
    <message>
        <source>Special</source>
        <translation>特殊管理</translation>
    </message>
    <message>
        <source>Diagnosis</source>
        <translation>诊断</translation>
    </message>
    <message>
        <source>Diagnosis history</source>
        <translation>诊断记录</translation>
    </message>
    <message>
        <source>Prescriber and e-signature</source>
        <translation>开方医师与电子签名</translation>
    </message>
    <message>
        <source>Intake notes (facts that could not be read)</source>
        <translation>接收说明（无法读取的信息）</translation>
    </message>
    <message>
        <source>Earlier prescriptions and decisions</source>
        <translation>既往处方与审核结论</translation>
    </message>
    <message>
        <source>Not claimed by you: the patient&apos;s identity, diagnosis history and earlier prescriptions are hidden. Claim it (Ctrl+Shift+N) to review.</source>
        <translation>未由您领取：患者身份、诊断记录和既往处方已隐藏。领取（Ctrl+Shift+N）后审核。</translation>
    </message>
    <message>
        <source>Claimed by %1: the patient&apos;s identity and history are hidden.</source>
        <translation>已由 %1 领取：患者身份与记录已隐藏。</translation>
    </message>
    <message>
        <source>Prescription %1 (version %2) — %3 — written %4 — %5</source>
        <translation>处方 %1（第 %2 版）— %3 — 开具于 %4 — %5</translation>
    </message>
    <message>
        <source>%1 years</source>
        <translation>%1 岁</translation>
    </message>
    <message>
        <source>age unknown</source>
        <translation>年龄不详</translation>
    </message>
    <message>
        <source>born %1</source>
        <translation>出生于 %1</translation>
    </message>
    <message>
        <source>birth date as sent: %1</source>
        <translation>传来的出生日期：%1</translation>
    </message>
    <message>
        <source>Age unknown: age rules cannot be checked</source>
        <translation>年龄不详：无法核对年龄相关规定</translation>
    </message>
    <message>
        <source>Under 6</source>
        <translation>6 岁以下</translation>
    </message>
    <message>
        <source>present</source>
        <translation>在场</translation>
    </message>
    <message>
        <source>MISSING</source>
        <translation>缺失</translation>
    </message>
    <message>
        <source>Guardian: %1    Accompanying physician: %2</source>
        <translation>监护人：%1    陪伴医师：%2</translation>
    </message>
    <message>
        <source>Guardian: %1</source>
        <translation>监护人：%1</translation>
    </message>
    <message>
        <source>follow-up visit</source>
        <translation>复诊</translation>
    </message>
    <message>
        <source>NOT a follow-up visit</source>
        <translation>非复诊</translation>
    </message>
    <message>
        <source>no visit information</source>
        <translation>无就诊信息</translation>
    </message>
    <message>
        <source>Allergies: %1</source>
        <translation>过敏史：%1</translation>
    </message>
    <message>
        <source>none recorded</source>
        <translation>未记录</translation>
    </message>
    <message>
        <source>Weight: %1</source>
        <translation>体重：%1</translation>
    </message>
    <message>
        <source>not given</source>
        <translation>未提供</translation>
    </message>
    <message>
        <source>Contact: %1</source>
        <translation>联系方式：%1</translation>
    </message>
    <message>
        <source>Blocked</source>
        <translation>拦截</translation>
    </message>
    <message>
        <source>Warning</source>
        <translation>警示</translation>
    </message>
    <message>
        <source>Evidence: %1</source>
        <translation>依据：%1</translation>
    </message>
    <message>
        <source>Source: %1  (%2)</source>
        <translation>出处：%1（%2）</translation>
    </message>
    <message>
        <source>No findings: every rule passed.</source>
        <translation>无审核发现：全部规则通过。</translation>
    </message>
    <message>
        <source>Findings: %1 blocking, %2 warnings</source>
        <translation>审核发现：%1 项拦截，%2 项警示</translation>
    </message>
    <message>
        <source>(not in the formulary)</source>
        <translation>（不在本院药品目录中）</translation>
    </message>
    <message>
        <source>matched: %1</source>
        <translation>匹配：%1</translation>
    </message>
    <message>
        <source>%1 not confirmed</source>
        <translation>%1 未确诊</translation>
    </message>
    <message>
        <source>no diagnosis given</source>
        <translation>未提供诊断</translation>
    </message>
    <message>
        <source>Date</source>
        <translation>日期</translation>
    </message>
    <message>
        <source>Institution</source>
        <translation>医疗机构</translation>
    </message>
    <message>
        <source>Source document</source>
        <translation>来源文书</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>%1 diagnoses on record: shown to the holder of the claim.</source>
        <translation>共有 %1 条诊断记录：仅向领取人显示。</translation>
    </message>
    <message>
        <source>Confirmed at physical institutions (%1)</source>
        <translation>实体医疗机构确诊（%1）</translation>
    </message>
    <message>
        <source>Not confirmed (%1): not a basis for an online follow-up</source>
        <translation>未确诊（%1）：不能作为在线复诊的依据</translation>
    </message>
    <message>
        <source>confirmed</source>
        <translation>已确诊</translation>
    </message>
    <message>
        <source>unconfirmed</source>
        <translation>未确诊</translation>
    </message>
    <message>
        <source>(sent with this prescription)</source>
        <translation>（随本处方传来）</translation>
    </message>
    <message>
        <source>outpatient record</source>
        <translation>门诊病历</translation>
    </message>
    <message>
        <source>inpatient record</source>
        <translation>住院病历</translation>
    </message>
    <message>
        <source>discharge summary</source>
        <translation>出院小结</translation>
    </message>
    <message>
        <source>diagnosis certificate</source>
        <translation>诊断证明</translation>
    </message>
    <message>
        <source>%1 years of practice</source>
        <translation>执业 %1 年</translation>
    </message>
    <message>
        <source>years of practice unknown</source>
        <translation>执业年限不详</translation>
    </message>
    <message>
        <source>real-name verified</source>
        <translation>已实名认证</translation>
    </message>
    <message>
        <source>NOT real-name verified</source>
        <translation>未实名认证</translation>
    </message>
    <message>
        <source>licence %1</source>
        <translation>执业证号 %1</translation>
    </message>
    <message>
        <source>requester kind: %1</source>
        <translation>开具者类型：%1</translation>
    </message>
    <message>
        <source>E-signature verified</source>
        <translation>电子签名验证通过</translation>
    </message>
    <message>
        <source>E-signature MISSING</source>
        <translation>缺少电子签名</translation>
    </message>
    <message>
        <source>E-signature does NOT verify</source>
        <translation>电子签名验证未通过</translation>
    </message>
    <message>
        <source>Received</source>
        <translation>接收时间</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>处方号</translation>
    </message>
    <message>
        <source>Drugs</source>
        <translation>药品</translation>
    </message>
    <message>
        <source>Decision</source>
        <translation>审核结论</translation>
    </message>
    <message>
        <source>By</source>
        <translation>审核人</translation>
    </message>
    <message>
        <source>Shown to the holder of the claim.</source>
        <translation>仅向领取人显示。</translation>
    </message>
    <message>
        <source>No earlier prescriptions for this patient.</source>
        <translation>该患者无既往处方。</translation>
    </message>
    <message>
        <source>approved</source>
        <translation>已通过</translation>
    </message>
    <message>
        <source>rejected</source>
        <translation>已拒绝</translation>
    </message>
    <message>
        <source>returned</source>
        <translation>已退回</translation>
    </message>
</context>
<context>
    <name>QueueModel</name>
    <message>
        <source>Risk</source>
        <translation>风险</translation>
    </message>
    <message>
        <source>Received</source>
        <translation>接收时间</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>待审</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>处方号</translation>
    </message>
    <message>
        <source>Waiting</source>
        <comment>column: how long it has waited</comment>
        <translation>等待时长</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>患者</translation>
    </message>
    <message>
        <source>Department</source>
        <translation>科室</translation>
    </message>
    <message>
        <source>Prescriber</source>
        <translation>开方医师</translation>
    </message>
    <message>
        <source>Items</source>
        <translation>药品</translation>
    </message>
    <message>
        <source>Special drugs</source>
        <translation>特殊药品</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Claimed by</source>
        <translation>领取人</translation>
    </message>
    <message>
        <source>Blocked</source>
        <translation>拦截</translation>
    </message>
    <message>
        <source>Warning</source>
        <translation>警示</translation>
    </message>
    <message>
        <source>Clean</source>
        <translation>无问题</translation>
    </message>
    <message>
        <source>Not checked</source>
        <translation>未核验</translation>
    </message>
    <message>
        <source>Approved</source>
        <translation>已通过</translation>
    </message>
    <message>
        <source>Rejected</source>
        <translation>已拒绝</translation>
    </message>
    <message>
        <source>Returned</source>
        <translation>已退回</translation>
    </message>
    <message>
        <source>Superseded</source>
        <translation>已被新版本取代</translation>
    </message>
    <message>
        <source>Withdrawn</source>
        <translation>已撤回</translation>
    </message>
    <message>
        <source>narcotic drug</source>
        <translation>麻醉药品</translation>
    </message>
    <message>
        <source>class I psychotropic</source>
        <translation>第一类精神药品</translation>
    </message>
    <message>
        <source>class II psychotropic</source>
        <translation>第二类精神药品</translation>
    </message>
    <message>
        <source>psychotropic</source>
        <translation>精神药品</translation>
    </message>
    <message>
        <source>toxic drug for medical use</source>
        <translation>医疗用毒性药品</translation>
    </message>
    <message>
        <source>radioactive drug</source>
        <translation>放射性药品</translation>
    </message>
    <message>
        <source>precursor chemical</source>
        <translation>易制毒化学品</translation>
    </message>
    <message>
        <source>not to be sold online</source>
        <translation>禁止网络销售</translation>
    </message>
    <message>
        <source>&lt;1 min</source>
        <translation>&lt;1 分钟</translation>
    </message>
    <message>
        <source>%1 min</source>
        <translation>%1 分钟</translation>
    </message>
    <message>
        <source>%1 h %2 min</source>
        <translation>%1 小时 %2 分钟</translation>
    </message>
    <message>
        <source>%1 d</source>
        <translation>%1 天</translation>
    </message>
    <message>
        <source>M</source>
        <translation>男</translation>
    </message>
    <message>
        <source>F</source>
        <translation>女</translation>
    </message>
    <message>
        <source>age ?</source>
        <translation>年龄不详</translation>
    </message>
    <message>
        <source>%1 y</source>
        <translation>%1 岁</translation>
    </message>
    <message>
        <source>Under 6: a guardian and an accompanying physician are required</source>
        <translation>6 岁以下：须有监护人和陪伴医师</translation>
    </message>
</context>
<context>
    <name>QueueView</name>
    <message>
        <source>Waiting</source>
        <translation>待审</translation>
    </message>
    <message>
        <source>Decided</source>
        <translation>已审</translation>
    </message>
    <message>
        <source>All</source>
        <translation>全部</translation>
    </message>
    <message>
        <source>Any risk</source>
        <translation>全部风险</translation>
    </message>
    <message>
        <source>Blocked / not checked</source>
        <translation>拦截 / 未核验</translation>
    </message>
    <message>
        <source>Warning</source>
        <translation>警示</translation>
    </message>
    <message>
        <source>Clean</source>
        <translation>无问题</translation>
    </message>
    <message>
        <source>Special drugs</source>
        <translation>特殊药品</translation>
    </message>
    <message>
        <source>Only prescriptions with a specially managed drug (麻 精 毒 放 易 …)</source>
        <translation>仅显示含特殊管理药品（麻 精 毒 放 易 …）的处方</translation>
    </message>
    <message>
        <source>Under 6</source>
        <translation>6 岁以下</translation>
    </message>
    <message>
        <source>Mine</source>
        <translation>我的</translation>
    </message>
    <message>
        <source>Only the prescriptions I have claimed</source>
        <translation>仅显示我已领取的处方</translation>
    </message>
    <message>
        <source>Search number or patient (Ctrl+F)</source>
        <translation>搜索处方号或患者（Ctrl+F）</translation>
    </message>
    <message>
        <source>Queue not refreshed: %1</source>
        <translation>队列未刷新：%1</translation>
    </message>
    <message>
        <source>%1 shown</source>
        <translation>显示 %1 张</translation>
    </message>
</context>
<context>
    <name>RosterEditor</name>
    <message>
        <source>Roster</source>
        <translation>排班</translation>
    </message>
    <message>
        <source>My shifts</source>
        <translation>我的班次</translation>
    </message>
    <message>
        <source>◀ Previous week</source>
        <translation>◀ 上一周</translation>
    </message>
    <message>
        <source>Next week ▶</source>
        <translation>下一周 ▶</translation>
    </message>
    <message>
        <source>&amp;Add…</source>
        <translation>添加(&amp;A)…</translation>
    </message>
    <message>
        <source>&amp;Edit…</source>
        <translation>修改(&amp;E)…</translation>
    </message>
    <message>
        <source>S&amp;wap two…</source>
        <translation>两班互换(&amp;W)…</translation>
    </message>
    <message>
        <source>&amp;Remove…</source>
        <translation>删除(&amp;R)…</translation>
    </message>
    <message>
        <source>&amp;Copy this week to the next…</source>
        <translation>复制本周到下一周(&amp;C)…</translation>
    </message>
    <message>
        <source>Use this week as the template of the next one</source>
        <translation>以本周排班作为下一周的模板</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Day: %1</source>
        <translation>当日：%1</translation>
    </message>
    <message>
        <source>Why?</source>
        <translation>原因</translation>
    </message>
    <message>
        <source>Reason for this roster change (recorded):</source>
        <translation>本次排班变更的原因（将记录在案）：</translation>
    </message>
    <message>
        <source>Select one shift to edit.</source>
        <translation>请选择一个要修改的班次。</translation>
    </message>
    <message>
        <source>Select the two shifts to swap.</source>
        <translation>请选择要互换的两个班次。</translation>
    </message>
    <message>
        <source>Select the shifts to remove.</source>
        <translation>请选择要删除的班次。</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>For me on this computer</source>
        <translation>本人在本机的设置</translation>
    </message>
    <message>
        <source>Language (at the next start)</source>
        <translation>界面语言（下次启动生效）</translation>
    </message>
    <message>
        <source>Font size</source>
        <translation>字号</translation>
    </message>
    <message>
        <source>This workstation (administrators; at the next start)</source>
        <translation>本工作站（仅管理员；下次启动生效）</translation>
    </message>
    <message>
        <source>sqlite:///path or postgresql://user@host/dbname — never a password</source>
        <translation>sqlite:///路径 或 postgresql://用户@主机/库名 —— 不得包含密码</translation>
    </message>
    <message>
        <source>Database URL</source>
        <translation>数据库地址</translation>
    </message>
    <message>
        <source>Inbox folder</source>
        <translation>收件目录</translation>
    </message>
    <message>
        <source>Internet hospital FHIR server</source>
        <translation>互联网医院 FHIR 服务器</translation>
    </message>
    <message>
        <source>Dispensing endpoint</source>
        <translation>调配接口</translation>
    </message>
    <message>
        <source>Delivery endpoint</source>
        <translation>配送接口</translation>
    </message>
    <message>
        <source>Saved to %1.</source>
        <translation>已保存到 %1。</translation>
    </message>
    <message>
        <source>Only an administrator can change these (sign in as one).</source>
        <translation>仅管理员可修改（请以管理员身份登录）。</translation>
    </message>
    <message>
        <source>Secrets (kept in the OS keyring only)</source>
        <translation>密钥（只保存在操作系统钥匙串中）</translation>
    </message>
    <message>
        <source>PostgreSQL password</source>
        <translation>PostgreSQL 密码</translation>
    </message>
    <message>
        <source>FHIR server token</source>
        <translation>FHIR 服务器令牌</translation>
    </message>
    <message>
        <source>Dispensing token</source>
        <translation>调配接口令牌</translation>
    </message>
    <message>
        <source>Delivery token</source>
        <translation>配送接口令牌</translation>
    </message>
    <message>
        <source>This computer has no secure OS keyring (found: %1), so no password or token can be stored here. Install and unlock one — GNOME Keyring or KWallet (Secret Service) on Linux, Windows Credential Manager, macOS Keychain — and open Settings again. The workstation never stores secrets in plain text. The demo (SQLite, demo accounts) needs none.</source>
        <translation>本机没有安全的操作系统钥匙串（检测到：%1），因此无法在此保存密码或令牌。请安装并解锁一个钥匙串——Linux 上的 GNOME Keyring 或 KWallet（Secret Service）、Windows 凭据管理器、macOS 钥匙串——然后重新打开设置。工作站从不以明文保存密钥。演示模式（SQLite、演示账户）无需密钥。</translation>
    </message>
    <message>
        <source>unchanged</source>
        <translation>不变</translation>
    </message>
    <message>
        <source>Settings not saved</source>
        <translation>设置未保存</translation>
    </message>
    <message>
        <source>The database URL is not a database URL.</source>
        <translation>所填数据库地址不是有效的数据库地址。</translation>
    </message>
    <message>
        <source>A SQLite database has no password: leave the PostgreSQL password empty.</source>
        <translation>SQLite 数据库没有密码：请将 PostgreSQL 密码留空。</translation>
    </message>
</context>
<context>
    <name>SetupWizard</name>
    <message>
        <source>Set up the Rx Review Workstation</source>
        <translation>设置处方审核工作站</translation>
    </message>
</context>
<context>
    <name>ShiftDialog</name>
    <message>
        <source>Shift</source>
        <translation>班次</translation>
    </message>
    <message>
        <source>Pharmacist</source>
        <translation>药师</translation>
    </message>
    <message>
        <source>From</source>
        <translation>开始</translation>
    </message>
    <message>
        <source>To</source>
        <translation>结束</translation>
    </message>
    <message>
        <source>Role</source>
        <translation>岗位</translation>
    </message>
</context>
<context>
    <name>SignInDialog</name>
    <message>
        <source>Rx Review Workstation — sign in</source>
        <translation>处方审核工作站 — 登录</translation>
    </message>
    <message>
        <source>Rx Review Workstation</source>
        <translation>处方审核工作站</translation>
    </message>
    <message>
        <source>Sign in</source>
        <translation>登录</translation>
    </message>
    <message>
        <source>Demo mode — made-up patients; nothing here is real. Demo accounts:</source>
        <translation>演示模式 — 患者均为虚构，所有数据均非真实。演示账户：</translation>
    </message>
    <message>
        <source>Password %1 · signing PIN %2</source>
        <translation>密码 %1 · 签名 PIN %2</translation>
    </message>
    <message>
        <source>pharmacist</source>
        <translation>药师</translation>
    </message>
    <message>
        <source>pharmacy lead</source>
        <translation>药房主任</translation>
    </message>
    <message>
        <source>administrator</source>
        <translation>系统管理员</translation>
    </message>
</context>
<context>
    <name>SigningDialog</name>
    <message>
        <source>Sign the decision</source>
        <translation>电子签名</translation>
    </message>
    <message>
        <source>version %1</source>
        <translation>第 %1 版</translation>
    </message>
    <message>
        <source>Decision:</source>
        <translation>审核结论：</translation>
    </message>
    <message>
        <source>Prescription:</source>
        <translation>处方：</translation>
    </message>
    <message>
        <source>Version:</source>
        <translation>版本：</translation>
    </message>
    <message>
        <source>Content digest (SHA-256):</source>
        <translation>内容摘要（SHA-256）：</translation>
    </message>
    <message>
        <source>Signed by:</source>
        <translation>签名人：</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>密码：</translation>
    </message>
    <message>
        <source>Signing PIN:</source>
        <translation>签名 PIN：</translation>
    </message>
    <message>
        <source>Sign (Return)</source>
        <translation>签名（回车）</translation>
    </message>
    <message>
        <source>Cancel (Esc)</source>
        <translation>取消（Esc）</translation>
    </message>
    <message>
        <source>You are signing this decision for exactly this content:</source>
        <translation>您将对以下内容的审核结论进行电子签名：</translation>
    </message>
    <message>
        <source>Signing…</source>
        <translation>正在签名…</translation>
    </message>
    <message>
        <source>First signature of this session, after 10 idle minutes or after a lock: type your password and your signing PIN.</source>
        <translation>本次会话首次签名，或空闲 10 分钟、锁屏之后：请输入密码和签名 PIN。</translation>
    </message>
    <message>
        <source>Your signing session is open: your signing PIN is enough.</source>
        <translation>签名会话已开启：输入签名 PIN 即可。</translation>
    </message>
    <message>
        <source>Type your password.</source>
        <translation>请输入密码。</translation>
    </message>
    <message>
        <source>Type your signing PIN.</source>
        <translation>请输入签名 PIN。</translation>
    </message>
</context>
<context>
    <name>StatusBar</name>
    <message>
        <source>Retry release</source>
        <translation>重新发送</translation>
    </message>
    <message>
        <source>Send the failed releases again (pharmacy leads)</source>
        <translation>重新发送流转失败的处方（限药房主任）</translation>
    </message>
    <message>
        <source>Not signed in</source>
        <translation>未登录</translation>
    </message>
    <message>
        <source>Signed in: %1 (%2)</source>
        <translation>已登录：%1（%2）</translation>
    </message>
    <message>
        <source>No claim</source>
        <translation>未认领处方</translation>
    </message>
    <message>
        <source>Claim on %1 expired</source>
        <translation>%1 的认领已过期</translation>
    </message>
    <message>
        <source>Claimed %1 · %2:%3 left</source>
        <translation>已认领 %1 · 剩余 %2:%3</translation>
    </message>
    <message>
        <source>never</source>
        <translation>从未</translation>
    </message>
    <message>
        <source>Waiting %1 · intake: inbox</source>
        <translation>待审 %1 · 接收：收件箱</translation>
    </message>
    <message>
        <source>, FHIR pull (last %1)</source>
        <translation>，FHIR 拉取（上次 %1）</translation>
    </message>
    <message>
        <source> · last received %1</source>
        <translation> · 最近接收 %1</translation>
    </message>
    <message>
        <source>Release: %1 pending, %2 failed</source>
        <translation>处方流转：待发送 %1，失败 %2</translation>
    </message>
</context>
<context>
    <name>_AdminPage</name>
    <message>
        <source>Pharmacy and first administrator</source>
        <translation>药房与首位管理员</translation>
    </message>
    <message>
        <source>The workstation&apos;s database is empty. Name the pharmacy and create the account of the administrator who will add the pharmacists.</source>
        <translation>工作站数据库为空。请填写药房名称，并创建负责添加药师的管理员账户。</translation>
    </message>
    <message>
        <source>e.g. IT-0001 (the sign-in name)</source>
        <translation>例如 IT-0001（登录名）</translation>
    </message>
    <message>
        <source>at least %1 characters</source>
        <translation>至少 %1 个字符</translation>
    </message>
    <message>
        <source>Pharmacy name</source>
        <translation>药房名称</translation>
    </message>
    <message>
        <source>Administrator&apos;s name</source>
        <translation>管理员姓名</translation>
    </message>
    <message>
        <source>Sign-in licence / staff number</source>
        <translation>登录用执业证号 / 工号</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <source>Password again</source>
        <translation>再次输入密码</translation>
    </message>
    <message>
        <source>The two passwords differ.</source>
        <translation>两次输入的密码不一致。</translation>
    </message>
    <message>
        <source>Creating the account…</source>
        <translation>正在创建账户…</translation>
    </message>
    <message>
        <source>Setup refused</source>
        <translation>设置被拒绝</translation>
    </message>
</context>
<context>
    <name>_EnrolPage</name>
    <message>
        <source>Signing credentials</source>
        <translation>签名证书</translation>
    </message>
    <message>
        <source>Create the pharmacy CA now</source>
        <translation>立即创建药房 CA</translation>
    </message>
    <message>
        <source>Every approval carries the reviewing pharmacist&apos;s own e-signature. Next: sign in as the administrator, open Workstation → Administration, add each pharmacist and enrol them (the pharmacist types their password and chooses a signing PIN).</source>
        <translation>每一份审核通过都带有审核药师本人的电子签名。下一步：以管理员身份登录，打开“工作站 → 系统管理”，添加每位药师并为其签发证书（由药师本人输入密码并设置签名 PIN）。</translation>
    </message>
    <message>
        <source>The pharmacy CA issues those credentials; its key&apos;s passphrase goes to this computer&apos;s OS keyring.</source>
        <translation>这些证书由药房 CA 签发；CA 私钥的口令保存在本机操作系统钥匙串中。</translation>
    </message>
    <message>
        <source>This computer has no secure OS keyring (found: %1), so the pharmacy CA cannot be created here. Either create it on a computer that has one (rxws ca init), or import credentials issued by a CA you trust (rxws pharmacist import).</source>
        <translation>本机没有安全的操作系统钥匙串（检测到：%1），因此无法在此创建药房 CA。请在有钥匙串的计算机上创建（rxws ca init），或导入由您信任的 CA 签发的证书（rxws pharmacist import）。</translation>
    </message>
    <message>
        <source>Pharmacy CA ready: %1</source>
        <translation>药房 CA 已就绪：%1</translation>
    </message>
</context>
<context>
    <name>labels</name>
    <message>
        <source>The printer could not be opened.</source>
        <translation>无法打开打印机。</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
</context>
<context>
    <name>messages</name>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Warning</source>
        <translation>警告</translation>
    </message>
    <message>
        <source>Information</source>
        <translation>提示</translation>
    </message>
    <message>
        <source>Please confirm</source>
        <translation>请确认</translation>
    </message>
</context>
</TS>

//! 合同: the contract list with a tab per state, 即将到期 (in force, ending within 30 days) and
//! 已过期, a page at a time with the service's cursor; the contract page with its content, the
//! orders under it and what they used, every version with its review facts, the records that do
//! not count, and, as forms, only the steps this role may take on the state it is in. The forms
//! post to `/ui/contracts/{id}/act`, which calls the same use cases as the API.

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::response::Html;
use chrono::NaiveDate;
use serde::Deserialize;

use super::attachments::{kept_names, read_form_with_files, store_files, Files};
use super::format::{business_today, day_of, minute_of, money, query_string, role_label};
use super::order_page::{describe_fact, reason_in_chinese};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::contract::ContractState;
use crate::domain::role::{Action, Role};
use crate::http::{decode_cursor, read, write, AppState};
use crate::service::contracts::{ContractFilter, ContractQuery, ContractView};

pub const PAGE_SIZE: usize = 50;
/// Days ahead the 即将到期 tab looks.
pub const EXPIRING_DAYS: u32 = 30;

/// The list's tabs: `(tab, label)`; a tab is a state, `expiring`, `expired` or empty (all).
const TABS: &[(&str, &str)] = &[
    ("", "全部"),
    ("draft", "草稿"),
    ("submitted", "待主管审核"),
    ("reviewed", "待领导审批"),
    ("approved", "待签订"),
    ("signed", "已签订"),
    ("archived", "已归档"),
    ("rejected", "已退回"),
    ("expiring", "即将到期"),
    ("expired", "已过期"),
];

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    tab: String,
    #[serde(default)]
    cursor: String,
}

pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub active: bool,
}

pub struct ContractRowView {
    pub number: String,
    pub href: String,
    pub customer: String,
    pub party_b: String,
    pub amount: String,
    pub validity: String,
    pub version: u32,
    pub state: String,
    /// Days left in force, or 已过期.
    pub days_left: String,
    pub anomalies: usize,
}

#[derive(Template)]
#[template(path = "contracts.html")]
struct ContractListPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<ContractRowView>,
    note: String,
    next_href: String,
    first_href: String,
    /// The 起草合同 form, for a role that drafts; the values typed when it was refused.
    draft: Option<DraftInput>,
    draft_error: String,
}

/// What the 起草合同 form sends.
#[derive(Debug, Default, Deserialize)]
pub struct DraftInput {
    #[serde(default)]
    csrf: String,
    /// A customer's name, code or phone: it must find one customer.
    #[serde(default)]
    pub customer: String,
    #[serde(default)]
    pub number: String,
    #[serde(default)]
    pub party_b: String,
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: String,
    #[serde(default)]
    pub terms: String,
    /// Files stored by an earlier, refused try (names, comma-separated), sent again.
    #[serde(default)]
    pub attachments: String,
}

impl DraftInput {
    pub fn attachment_count(&self) -> usize {
        kept_names(&self.attachments).len()
    }
}

/// The query a tab stands for.
fn tab_query(tab: &str, today: NaiveDate) -> Option<ContractQuery> {
    let mut query = ContractQuery::all(PAGE_SIZE);
    query.today = today;
    match tab {
        "" => {}
        "expiring" => query.expiring_within = Some(EXPIRING_DAYS),
        "expired" => query.filter = Some(ContractFilter::Expired),
        state => query.filter = Some(ContractFilter::State(ContractState::parse(state)?)),
    }
    Some(query)
}

fn list_href(tab: &str, cursor: &str) -> String {
    format!(
        "/ui/contracts{}",
        query_string(&[("tab", tab), ("cursor", cursor)])
    )
}

pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    list_page(&state, &signed, params, None, String::new()).await
}

async fn list_page(
    state: &AppState,
    signed: &SignedIn,
    params: ListParams,
    draft: Option<DraftInput>,
    draft_error: String,
) -> Result<Html<String>, PageError> {
    let today = business_today(chrono::Utc::now());
    let (tab, note) = match tab_query(&params.tab, today) {
        Some(_) => (params.tab.clone(), String::new()),
        None => (
            String::new(),
            format!("不认识的分类「{}」，已显示全部合同", params.tab),
        ),
    };
    let mut query = tab_query(&tab, today).unwrap_or_else(|| ContractQuery::all(PAGE_SIZE));
    query.cursor = decode_cursor(Some(&params.cursor))?;
    let page = read(state, move |office| office.list_contracts(&query)).await?;
    let rows = page
        .items
        .into_iter()
        .map(|r| {
            let c = r.contract;
            ContractRowView {
                href: format!("/ui/contracts/{}", c.id),
                number: c.number,
                customer: c.customer_name,
                party_b: c.party_b,
                amount: money(c.amount),
                validity: format!("{} 至 {}", c.valid_from, c.valid_to),
                version: c.version,
                state: r.state_label,
                days_left: match (r.expired, r.days_left) {
                    (true, _) => "已过期".into(),
                    (false, Some(d)) => format!("{d} 天"),
                    (false, None) => String::new(),
                },
                anomalies: c.anomalies,
            }
        })
        .collect();
    let may_draft = signed.user.role.may(Action::DraftContract);
    render(&ContractListPage {
        chrome: Chrome::new(state, signed, "/ui/contracts"),
        draft: may_draft.then(|| {
            draft.unwrap_or_else(|| DraftInput {
                valid_from: today.to_string(),
                valid_to: (today + chrono::Days::new(364)).to_string(),
                ..DraftInput::default()
            })
        }),
        draft_error,
        tabs: TABS
            .iter()
            .map(|(t, label)| Tab {
                label,
                href: list_href(t, ""),
                active: *t == tab,
            })
            .collect(),
        rows,
        note,
        next_href: page
            .next_cursor
            .map(|c| list_href(&tab, &c))
            .unwrap_or_default(),
        first_href: if params.cursor.is_empty() {
            String::new()
        } else {
            list_href(&tab, "")
        },
    })
}

/// 起草合同 from the list page: the customer found by name, code or phone, then the same use
/// case as the API; the contract page when drafted, the list with the form and the reason when
/// not.
pub async fn draft(
    State(state): State<AppState>,
    signed: SignedIn,
    request: Request,
) -> Result<axum::response::Response, PageError> {
    use axum::response::{IntoResponse, Redirect};
    let (mut input, files) = read_form_with_files::<DraftInput>(&state, request, Files::Documents)
        .await
        .map_err(PageError::Refused)?;
    signed.check_csrf(&input.csrf)?;
    let refuse = |why: String, input: DraftInput| async {
        list_page(&state, &signed, ListParams::default(), Some(input), why)
            .await
            .map(IntoResponse::into_response)
    };
    // The files are stored first; the form keeps their names, so a refusal loses none.
    let mut attachments = kept_names(&input.attachments);
    let stored = store_files(&state, &signed.user, files, &mut attachments).await;
    input.attachments = attachments.join(",");
    if let Err(e) = stored {
        return refuse(reason_in_chinese(e)?, input).await;
    }
    let amount = match input.amount.trim().replace([',', '¥'], "").parse() {
        Ok(a) => a,
        Err(_) => return refuse(format!("金额「{}」不是数字", input.amount), input).await,
    };
    let (Ok(valid_from), Ok(valid_to)) = (
        input.valid_from.trim().parse::<NaiveDate>(),
        input.valid_to.trim().parse::<NaiveDate>(),
    ) else {
        return refuse("有效期须为 YYYY-MM-DD 格式的日期".into(), input).await;
    };
    let user = signed.user.clone();
    let text = input.customer.trim().to_string();
    let new = crate::service::contracts::NewContract {
        number: input.number.clone(),
        customer_id: String::new(),
        party_a: String::new(),
        party_b: input.party_b.clone(),
        amount,
        terms: input.terms.clone(),
        valid_from,
        valid_to,
        attachments,
    };
    let drafted = write(&state, move |office| {
        let found = office.search_customers(&crate::service::customers::CustomerQuery {
            q: Some(text.clone()),
            limit: 5,
            ..Default::default()
        })?;
        let exact: Vec<_> = found
            .items
            .iter()
            .filter(|c| c.name == text || c.code == text)
            .collect();
        let customer = match (exact.as_slice(), found.items.as_slice()) {
            ([one], _) => one.id.clone(),
            ([], [one]) => one.id.clone(),
            (_, []) => {
                return Err(crate::service::ServiceError::Rule(format!(
                    "找不到客户「{text}」 / no customer found"
                )))
            }
            _ => {
                let names: Vec<&str> = found.items.iter().map(|c| c.name.as_str()).collect();
                return Err(crate::service::ServiceError::Rule(format!(
                    "「{text}」对应多个客户：{}，请输入完整名称或编码 / several customers match",
                    names.join("、")
                )));
            }
        };
        office.create_contract(
            &user,
            crate::service::contracts::NewContract {
                customer_id: customer,
                ..new
            },
        )
    })
    .await;
    match drafted {
        Ok(view) => Ok(Redirect::to(&format!("/ui/contracts/{}", view.id)).into_response()),
        Err(e) => {
            let why = reason_in_chinese(e)?;
            refuse(why, input).await
        }
    }
}

pub struct FactRow {
    pub at: String,
    pub what: String,
    pub user: String,
    pub role: &'static str,
    pub node: String,
}

pub struct VersionView {
    pub version: u32,
    pub state: String,
    pub reason: String,
    pub fields: Vec<(&'static str, String)>,
    pub facts: Vec<FactRow>,
}

pub struct OrderRow {
    pub number: String,
    pub href: String,
    pub day: String,
    pub status: String,
    pub gross: String,
    pub counts: bool,
}

/// One step form: its action, button and inputs `(name, label, prefilled value)`.
pub struct StepForm {
    pub action: &'static str,
    pub label: &'static str,
    pub inputs: Vec<(&'static str, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "contract.html")]
struct ContractPage {
    chrome: Chrome,
    id: String,
    number: String,
    state: String,
    customer: String,
    fields: Vec<(&'static str, String)>,
    /// The current version's attachments (names), each a link.
    attachments: Vec<String>,
    amounts: Vec<(&'static str, String)>,
    /// 超额: by how much its orders exceed the amount in force, or "".
    exceeded: String,
    orders: Vec<OrderRow>,
    versions: Vec<VersionView>,
    anomalies: Vec<String>,
    steps: Vec<StepForm>,
    /// The 修改 form (the draft, or a new version), prefilled with the current content.
    change: Option<ChangeForm>,
    error: String,
    notice: String,
}

pub struct ChangeForm {
    /// In draft the fields change in place; otherwise a new version, which needs a reason.
    pub new_version: bool,
    pub party_a: String,
    pub party_b: String,
    pub amount: String,
    pub valid_from: String,
    pub valid_to: String,
    pub terms: String,
}

fn content_fields(c: &crate::domain::contract::ContractContent) -> Vec<(&'static str, String)> {
    vec![
        ("甲方", c.party_a.clone()),
        ("乙方", c.party_b.clone()),
        ("合同金额", money(c.amount)),
        ("有效期", format!("{} 至 {}", c.valid_from, c.valid_to)),
        ("条款", c.terms.clone()),
        ("附件", format!("{} 个", c.attachments.len())),
    ]
}

/// The steps `role` may take on a contract in `state`.
fn steps(role: Role, state: ContractState) -> Vec<StepForm> {
    let today = business_today(chrono::Utc::now()).to_string();
    let reason = || vec![("reason", "退回原因", String::new())];
    let candidates = [
        (
            Action::DraftContract,
            ContractState::Draft,
            "submit",
            "提交主管审核",
            vec![],
        ),
        (
            Action::ReviewContract,
            ContractState::Submitted,
            "review-approve",
            "主管审核通过",
            vec![],
        ),
        (
            Action::ReviewContract,
            ContractState::Submitted,
            "review-reject",
            "主管审核退回",
            reason(),
        ),
        (
            Action::ApproveContract,
            ContractState::Reviewed,
            "approve",
            "领导审批通过",
            vec![],
        ),
        (
            Action::ApproveContract,
            ContractState::Reviewed,
            "reject",
            "领导审批退回",
            reason(),
        ),
        (
            Action::SignContract,
            ContractState::Approved,
            "sign",
            "登记签订",
            vec![("signed_on", "签订日期", today)],
        ),
        (
            Action::SignContract,
            ContractState::Signed,
            "archive",
            "归档",
            vec![],
        ),
    ];
    candidates
        .into_iter()
        .filter(|(action, at, ..)| role.may(*action) && *at == state)
        .map(|(_, _, action, label, inputs)| StepForm {
            action,
            label,
            inputs,
        })
        .collect()
}

async fn contract_page(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    error: String,
    notice: String,
) -> Result<Html<String>, PageError> {
    let id = id.to_string();
    let view: ContractView = {
        let id = id.clone();
        read(state, move |office| {
            office.contract_view(&office.contract(&id)?)
        })
        .await?
    };
    let fact_row = |f: &crate::domain::facts::Fact| FactRow {
        at: minute_of(&f.at.to_rfc3339()),
        what: describe_fact(&f.body),
        user: f.user.clone(),
        role: role_label(f.role),
        node: f.node.clone(),
    };
    let mut fields = content_fields(&view.content);
    fields.push(("当前版本", format!("第 {} 版", view.version)));
    if let (Some(v), Some(on)) = (view.signed_version, view.signed_on) {
        fields.push(("生效版本", format!("第 {v} 版，{on} 签订")));
    }
    if let Some(until) = view.in_force_until {
        let left = match view.days_left {
            Some(d) if view.expired => format!("已过期 {} 天", -d),
            Some(d) => format!("还有 {d} 天"),
            None => String::new(),
        };
        fields.push(("有效至", format!("{until}（{left}）")));
    }
    if let Some(reason) = &view.rejected_reason {
        fields.push(("退回原因", reason.clone()));
    }
    fields.push(("起草日期", day_of(&view.created_at)));
    render(&ContractPage {
        chrome: Chrome::new(state, signed, "/ui/contracts"),
        number: view.number.clone(),
        state: view.state_label.clone(),
        customer: view.customer_name.clone(),
        fields,
        attachments: view.content.attachments.clone(),
        amounts: vec![
            ("合同金额", money(view.content.amount)),
            ("订单已用", money(view.used)),
            ("剩余", money(view.remaining)),
        ],
        exceeded: view.exceeded_by.map(money).unwrap_or_default(),
        orders: view
            .orders
            .iter()
            .map(|o| OrderRow {
                number: o.number.clone(),
                href: format!("/ui/orders/{}", o.id),
                day: day_of(&o.created_at),
                status: o.status_label.clone(),
                gross: money(o.gross),
                counts: o.counts,
            })
            .collect(),
        versions: view
            .versions
            .iter()
            .rev()
            .map(|v| VersionView {
                version: v.version,
                state: v.state_label.clone(),
                reason: v.reason.clone(),
                fields: content_fields(&v.content),
                facts: v.facts.iter().map(fact_row).collect(),
            })
            .collect(),
        anomalies: view
            .anomalies
            .iter()
            .map(|a| format!("越权或伪造的记录：{}", a.detail))
            .collect(),
        steps: steps(signed.user.role, view.state),
        change: (signed.user.role.may(Action::DraftContract)
            && view.state != ContractState::Archived)
            .then(|| ChangeForm {
                new_version: view.state != ContractState::Draft,
                party_a: view.content.party_a.clone(),
                party_b: view.content.party_b.clone(),
                amount: view.content.amount.to_string(),
                valid_from: view.content.valid_from.to_string(),
                valid_to: view.content.valid_to.to_string(),
                terms: view.content.terms.clone(),
            }),
        id,
        error,
        notice,
    })
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    contract_page(&state, &signed, &id, String::new(), String::new()).await
}

#[derive(Deserialize, Default)]
pub struct StepInput {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    signed_on: String,
    // The 修改 form.
    #[serde(default)]
    party_a: String,
    #[serde(default)]
    party_b: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_to: String,
    #[serde(default)]
    terms: String,
}

/// The 修改 form as a patch: every field as typed (unchanged ones change nothing).
fn change_of(form: &StepInput) -> Result<crate::service::contracts::ContractPatch, String> {
    let day = |text: &str, what: &str| {
        text.trim()
            .parse::<NaiveDate>()
            .map_err(|_| format!("{what}「{text}」不是 YYYY-MM-DD 格式的日期"))
    };
    Ok(crate::service::contracts::ContractPatch {
        party_a: Some(form.party_a.clone()),
        party_b: Some(form.party_b.clone()),
        amount: Some(
            form.amount
                .trim()
                .replace([',', '¥'], "")
                .parse()
                .map_err(|_| format!("金额「{}」不是数字", form.amount))?,
        ),
        terms: Some(form.terms.clone()),
        valid_from: Some(day(&form.valid_from, "生效日期")?),
        valid_to: Some(day(&form.valid_to, "截止日期")?),
        attachments: None,
        reason: form.reason.clone(),
    })
}

pub async fn act(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    request: Request,
) -> Result<Html<String>, PageError> {
    // The 修改 form may carry files (scans of the contract), added to its attachments.
    let (form, files) = read_form_with_files::<StepInput>(&state, request, Files::Documents)
        .await
        .map_err(PageError::Refused)?;
    signed.check_csrf(&form.csrf)?;
    let mut added = Vec::new();
    if let Err(e) = store_files(&state, &signed.user, files, &mut added).await {
        return contract_page(&state, &signed, &id, reason_in_chinese(e)?, String::new()).await;
    }
    let user = signed.user.clone();
    let target = id.clone();
    let done: Result<&str, crate::http::error::ApiError> = match form.action.as_str() {
        "submit" => write(&state, move |o| o.submit_contract(&user, &target))
            .await
            .map(|_| "已提交主管审核"),
        "review-approve" => write(&state, move |o| {
            o.review_contract(&user, &target, true, String::new())
        })
        .await
        .map(|_| "主管审核已通过"),
        "review-reject" => write(&state, move |o| {
            o.review_contract(&user, &target, false, form.reason)
        })
        .await
        .map(|_| "已退回"),
        "approve" => write(&state, move |o| {
            o.approve_contract(&user, &target, true, String::new())
        })
        .await
        .map(|_| "领导审批已通过"),
        "reject" => write(&state, move |o| {
            o.approve_contract(&user, &target, false, form.reason)
        })
        .await
        .map(|_| "已退回"),
        "sign" => match form.signed_on.trim().parse::<NaiveDate>() {
            Ok(day) => write(&state, move |o| o.sign_contract(&user, &target, day))
                .await
                .map(|_| "已登记签订"),
            Err(_) => {
                let why = format!("签订日期「{}」不是 YYYY-MM-DD 格式的日期", form.signed_on);
                return contract_page(&state, &signed, &id, why, String::new()).await;
            }
        },
        "archive" => write(&state, move |o| o.archive_contract(&user, &target))
            .await
            .map(|_| "已归档"),
        "change" => match change_of(&form) {
            Ok(mut patch) => write(&state, move |o| {
                if !added.is_empty() {
                    let mut attachments = o.contract(&target)?.content().attachments;
                    for name in added {
                        if !attachments.contains(&name) {
                            attachments.push(name);
                        }
                    }
                    patch.attachments = Some(attachments);
                }
                o.patch_contract(&user, &target, patch)
            })
            .await
            .map(|_| "已保存修改"),
            Err(why) => return contract_page(&state, &signed, &id, why, String::new()).await,
        },
        _ => {
            return contract_page(&state, &signed, &id, "不认识的操作".into(), String::new()).await
        }
    };
    let (error, notice) = match done {
        Ok(notice) => (String::new(), notice.to_string()),
        Err(e) => (reason_in_chinese(e)?, String::new()),
    };
    contract_page(&state, &signed, &id, error, notice).await
}

/// The contract queues of `role` on the home page: `(label, tab)`.
const HOME_QUEUES: &[(Role, &str, &str)] = &[
    (Role::Supervisor, "待审合同", "submitted"),
    (Role::Vp, "待审批合同", "reviewed"),
    (Role::Clerk, "退回待修改的合同", "rejected"),
    (Role::Clerk, "待签订合同", "approved"),
    (Role::Clerk, "即将到期合同（30天内）", "expiring"),
];

/// The home page's contract queues for `role`, each counted up to `cap` from the list indexes.
pub fn home_queues(
    office: &crate::service::BackOffice,
    role: Role,
    cap: usize,
) -> Result<Vec<super::home::QueueCount>, crate::service::ServiceError> {
    let today = business_today(chrono::Utc::now());
    let mut out = Vec::new();
    for (_, label, tab) in HOME_QUEUES.iter().filter(|(r, ..)| *r == role) {
        let Some(mut query) = tab_query(tab, today) else {
            continue;
        };
        query.limit = cap;
        let page = office.list_contracts(&query)?;
        out.push(super::home::QueueCount {
            label: label.to_string(),
            count: match page.next_cursor {
                Some(_) => format!("{}+", page.items.len()),
                None => page.items.len().to_string(),
            },
            href: list_href(tab, ""),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tab_is_a_query_and_each_step_is_offered_to_its_role_only() {
        let today = business_today(chrono::Utc::now());
        for (tab, _) in TABS {
            assert!(tab_query(tab, today).is_some(), "{tab}");
        }
        assert!(tab_query("lost", today).is_none());
        let offered = |role, state| -> Vec<&str> {
            steps(role, state).into_iter().map(|s| s.action).collect()
        };
        assert_eq!(offered(Role::Clerk, ContractState::Draft), ["submit"]);
        assert_eq!(
            offered(Role::Supervisor, ContractState::Submitted),
            ["review-approve", "review-reject"]
        );
        assert!(offered(Role::Clerk, ContractState::Submitted).is_empty());
        assert_eq!(
            offered(Role::Vp, ContractState::Reviewed),
            ["approve", "reject"]
        );
        assert_eq!(offered(Role::Clerk, ContractState::Approved), ["sign"]);
        assert_eq!(offered(Role::Clerk, ContractState::Signed), ["archive"]);
        assert!(offered(Role::Vp, ContractState::Signed).is_empty());
    }
}

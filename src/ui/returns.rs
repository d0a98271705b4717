//! 退换货 (returns, exchanges and repairs) in the workbench. `/ui/returns` lists each state's
//! queue from the `return_state` index (待审批 for the VP, 退货待收 for the warehouse, …) with its
//! count. An order's page shows its return cases with their photos and the step the signed-in
//! role may take (审批 or 驳回, 收货入库, 寄回客户), posted to `/ui/returns/{request}/act`, and
//! the clerk's request form (lines, reason, 破损 and photos from a phone's camera or a PC's
//! files), posted to `/ui/orders/{id}/returns`. Every step goes through the same use cases as
//! the API; a refusal is shown on the order's page, the typed request and its photos kept.

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::response::Html;
use axum::Form;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::attachments::{kept_names, read_form_with_photos, store_files};
use super::format::{minute_of, quantity, query_string};
use super::order_list::Tab;
use super::order_page::{order_page, said, ActionForm, Refusal};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::facts::{Disposition, ReturnKind, ShipLine};
use crate::domain::order::Order;
use crate::domain::returns::{return_cases, ReturnCase, ReturnState};
use crate::domain::role::Action;
use crate::http::{decode_cursor, read, write, AppState};
use crate::service::returns::ReturnQuery;

const PAGE_SIZE: usize = 50;
/// Tab counts stop here ("500+"): a count is a walk of the state's index range.
const COUNT_CAP: usize = 500;

pub fn kind_label(kind: ReturnKind) -> &'static str {
    match kind {
        ReturnKind::Return => "退货",
        ReturnKind::Exchange => "换货",
        ReturnKind::Repair => "维修",
    }
}

/// One return case as the order's page and the list show it.
pub struct ReturnRow {
    pub id: String,
    pub order_href: String,
    pub order_number: String,
    pub store: String,
    pub kind: &'static str,
    pub state: &'static str,
    /// `序号 × 数量` of each line asked back.
    pub lines: String,
    pub reason: String,
    pub damaged: bool,
    pub photos: Vec<String>,
    pub requested_at: String,
    pub requested_by: String,
    pub decision_note: String,
    /// The steps this role may take now (empty in the list).
    pub steps: Vec<ActionForm>,
}

impl ReturnRow {
    /// `positions` names a line of the order (第N行); without the order, the list shows how
    /// many pieces in all.
    fn of(case: &ReturnCase, positions: Option<&dyn Fn(&str) -> String>) -> ReturnRow {
        let lines = match positions {
            Some(position) => case
                .lines
                .iter()
                .map(|l| format!("{} × {}", position(&l.line), quantity(l.quantity)))
                .collect::<Vec<_>>()
                .join("，"),
            None => format!(
                "共 {}",
                quantity(case.lines.iter().map(|l| l.quantity).sum::<Decimal>())
            ),
        };
        ReturnRow {
            id: case.id.clone(),
            order_href: format!("/ui/orders/{}", case.order_id),
            order_number: case.order_number.clone(),
            store: case.store.clone(),
            kind: kind_label(case.return_kind),
            state: case.state.label_zh(),
            lines,
            reason: case.reason.clone(),
            damaged: case.damaged,
            photos: case.photos.clone(),
            requested_at: minute_of(&case.requested_at.to_rfc3339()),
            requested_by: case.requested_by.clone(),
            decision_note: case.decision_note.clone().unwrap_or_default(),
            steps: Vec::new(),
        }
    }
}

/// The order's return cases, each with the steps `signed`'s role may take in its state.
pub fn rows_of_order(signed: &SignedIn, order: &Order) -> Vec<ReturnRow> {
    let role = signed.user.role;
    let position = |line: &str| {
        order
            .lines
            .iter()
            .position(|l| l.id == line)
            .map(|i| format!("第{}行", i + 1))
            .unwrap_or_else(|| "（已删除的行）".into())
    };
    return_cases(order)
        .iter()
        .map(|case| {
            let mut row = ReturnRow::of(case, Some(&position));
            let candidates: Vec<(Action, bool, &'static str, &'static str, Vec<_>)> = vec![
                (
                    Action::DecideReturn,
                    case.state == ReturnState::Pending,
                    "approve",
                    "批准",
                    vec![("note", "审批意见", String::new())],
                ),
                (
                    Action::DecideReturn,
                    case.state == ReturnState::Pending,
                    "reject",
                    "驳回",
                    vec![("note", "驳回原因", String::new())],
                ),
                (
                    Action::ReceiveReturn,
                    case.state == ReturnState::Approved,
                    "receive",
                    "收货入库",
                    vec![
                        ("condition", "货品状况", String::new()),
                        ("tag", "标签（维修、换货须填，寄回时认货）", String::new()),
                    ],
                ),
                (
                    Action::ReturnToCustomer,
                    case.state == ReturnState::Received && case.return_kind != ReturnKind::Return,
                    "send-back",
                    "寄回客户",
                    vec![("waybill", "运单号", String::new())],
                ),
            ];
            row.steps = candidates
                .into_iter()
                .filter(|(needs, shown, ..)| *shown && role.may(*needs))
                .map(|(_, _, action, label, inputs)| ActionForm {
                    action,
                    label,
                    inputs,
                })
                .collect();
            row
        })
        .collect()
}

/// The clerk's request form on the order's page: the lines that may still go back, and what
/// was typed (with the photos already stored) when a try was refused.
pub struct RequestForm {
    pub kind: String,
    pub line: String,
    pub quantity: String,
    pub reason: String,
    pub damaged: bool,
    /// Names of the photos a refused try stored, sent again with the form.
    pub photos: String,
    pub photo_count: usize,
    /// `(line id, 第N行 货号 品名 可退数量)` of each line with goods that may go back.
    pub lines: Vec<(String, String)>,
}

impl RequestForm {
    /// The form for `order` when `signed` may ask for a return and some goods may go back;
    /// `typed` is what a refused try sent.
    pub fn for_order(
        signed: &SignedIn,
        order: &Order,
        typed: Option<RequestInput>,
    ) -> Option<Self> {
        if !signed.user.role.may(Action::RequestReturn) {
            return None;
        }
        let back = order.requested_back();
        let lines: Vec<(String, String)> = order
            .lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let left = l.shipped - back.get(&l.id).copied().unwrap_or_default();
                (left > Decimal::ZERO).then(|| {
                    let label = format!(
                        "第{}行 {} {}（可退 {}）",
                        i + 1,
                        l.sku,
                        l.spec,
                        quantity(left)
                    );
                    (l.id.clone(), label)
                })
            })
            .collect();
        if lines.is_empty() {
            return None;
        }
        let typed = typed.unwrap_or_default();
        Some(RequestForm {
            kind: if typed.kind.is_empty() {
                "return".into()
            } else {
                typed.kind
            },
            line: typed.line,
            quantity: if typed.quantity.is_empty() {
                "1".into()
            } else {
                typed.quantity
            },
            reason: typed.reason,
            damaged: !typed.damaged.is_empty(),
            photo_count: kept_names(&typed.photos).len(),
            photos: typed.photos,
            lines,
        })
    }
}

/// What the request form sends.
#[derive(Debug, Default, Deserialize)]
pub struct RequestInput {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    line: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    reason: String,
    /// Present (any value) when the box 破损索赔 is ticked.
    #[serde(default)]
    damaged: String,
    /// Photos stored by an earlier, refused try (names, comma-separated).
    #[serde(default)]
    photos: String,
}

/// `POST /ui/orders/{id}/returns`: the clerk asks for a return, an exchange or a repair.
pub async fn request(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    request: Request,
) -> Result<Html<String>, PageError> {
    let (mut typed, photos) = read_form_with_photos::<RequestInput>(&state, request)
        .await
        .map_err(PageError::Refused)?;
    signed.check_csrf(&typed.csrf)?;
    let mut names = kept_names(&typed.photos);
    let stored = store_files(&state, &signed.user, photos, &mut names).await;
    typed.photos = names.join(",");
    let outcome = match stored {
        Ok(()) => ask(&state, &signed, &id, &typed, names).await,
        Err(e) => Err(Refusal::Api(e)),
    };
    let (error, notice) = said(outcome)?;
    // A refused try comes back with what was typed; a recorded one with an empty form.
    let typed = (!error.is_empty()).then_some(typed);
    order_page(&state, &signed, &id, error, notice, typed).await
}

async fn ask(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    typed: &RequestInput,
    photos: Vec<String>,
) -> Result<String, Refusal> {
    let kind = match typed.kind.as_str() {
        "return" => ReturnKind::Return,
        "exchange" => ReturnKind::Exchange,
        "repair" => ReturnKind::Repair,
        _ => return Err(Refusal::Said("请选择退货、换货或维修".into())),
    };
    if typed.line.is_empty() {
        return Err(Refusal::Said("请选择货品".into()));
    }
    let quantity = typed
        .quantity
        .trim()
        .parse::<Decimal>()
        .ok()
        .filter(|q| *q > Decimal::ZERO)
        .ok_or_else(|| format!("数量“{}”须为大于零的数字", typed.quantity))?;
    let lines = vec![ShipLine {
        line: typed.line.clone(),
        quantity,
        unit_price: None,
    }];
    let (user, id) = (signed.user.clone(), id.to_string());
    let (reason, damaged) = (typed.reason.clone(), !typed.damaged.is_empty());
    write(state, move |o| {
        o.request_return(&user, &id, kind, lines, reason, photos, damaged)
    })
    .await?;
    Ok(format!("已申请{}，等待销售副总审批", kind_label(kind)))
}

#[derive(Debug, Default, Deserialize)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    waybill: String,
}

/// `POST /ui/returns/{request}/act`: the VP decides, the warehouse receives or sends back;
/// answered with the order's page.
pub async fn act(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(request): Path<String>,
    Form(form): Form<StepForm>,
) -> Result<Html<String>, PageError> {
    signed.check_csrf(&form.csrf)?;
    let found = request.clone();
    let order_id = read(&state, move |o| o.order_of_return(&found)).await?;
    let (error, notice) = said(step(&state, &signed, &request, form).await)?;
    order_page(&state, &signed, &order_id, error, notice, None).await
}

async fn step(
    state: &AppState,
    signed: &SignedIn,
    request: &str,
    form: StepForm,
) -> Result<String, Refusal> {
    let (user, request) = (signed.user.clone(), request.to_string());
    let done = match form.action.as_str() {
        "approve" | "reject" => {
            let approved = form.action == "approve";
            write(state, move |o| {
                o.decide_return(&user, &request, approved, form.note)
            })
            .await?;
            if approved {
                "已批准，等待仓库收货"
            } else {
                "已驳回"
            }
        }
        "receive" => {
            write(state, move |o| {
                // What was approved comes in: the request's lines; a repair goes to repair.
                let order = o.order(&o.order_of_return(&request)?)?;
                let case = return_cases(&order)
                    .into_iter()
                    .find(|c| c.id == request)
                    .ok_or_else(|| {
                        crate::service::ServiceError::NotFound(format!("return {request}"))
                    })?;
                let disposition = match case.return_kind {
                    ReturnKind::Repair => Disposition::Repair,
                    _ => Disposition::Stock,
                };
                o.receive_return(
                    &user,
                    &request,
                    case.lines,
                    form.condition,
                    disposition,
                    form.tag,
                    false,
                )
            })
            .await?;
            "已收货入库"
        }
        "send-back" => {
            write(state, move |o| {
                o.return_to_customer(&user, &request, form.waybill)
            })
            .await?;
            "已寄回客户"
        }
        _ => return Err(Refusal::Said("不认识的操作".into())),
    };
    Ok(done.to_string())
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    state: String,
    #[serde(default)]
    cursor: String,
}

#[derive(Template)]
#[template(path = "returns.html")]
struct ListPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<ReturnRow>,
    next_href: String,
    first_href: String,
}

fn list_href(state: &str, cursor: &str) -> String {
    format!(
        "/ui/returns{}",
        query_string(&[("state", state), ("cursor", cursor)])
    )
}

/// The state a role's queue starts on: the VP decides, the warehouse receives.
fn default_tab(signed: &SignedIn) -> ReturnState {
    if signed.user.role.may(Action::DecideReturn) {
        ReturnState::Pending
    } else if signed.user.role.may(Action::ReceiveReturn) {
        ReturnState::Approved
    } else {
        ReturnState::Pending
    }
}

/// `GET /ui/returns`: one state's cases, newest first, with every state's count.
pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let tab = ReturnState::parse(&p.state).unwrap_or_else(|| default_tab(&signed));
    let cursor =
        decode_cursor(Some(&p.cursor)).map_err(|_| PageError::NotFound("这一页".into()))?;
    let query = ReturnQuery {
        state: Some(tab),
        customer: None,
        cursor,
        limit: PAGE_SIZE,
    };
    let (page, counts) = read(&state, move |o| {
        let counts = ReturnState::ALL
            .iter()
            .map(|s| Ok((*s, o.return_count(*s, COUNT_CAP)?)))
            .collect::<Result<Vec<_>, crate::service::ServiceError>>()?;
        Ok((o.list_returns(&query)?, counts))
    })
    .await?;
    let rows = page
        .items
        .iter()
        .map(|case| ReturnRow::of(case, None))
        .collect();
    render(&ListPage {
        chrome: Chrome::new(&state, &signed, "/ui/returns"),
        tabs: ReturnState::ALL
            .iter()
            .map(|s| {
                let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
                Tab {
                    label: s.label_zh(),
                    count: if n >= COUNT_CAP {
                        format!("{n}+")
                    } else {
                        n.to_string()
                    },
                    href: list_href(s.as_str(), ""),
                    active: *s == tab,
                }
            })
            .collect(),
        rows,
        next_href: page
            .next_cursor
            .map(|c| list_href(tab.as_str(), &c))
            .unwrap_or_default(),
        first_href: if p.cursor.is_empty() {
            String::new()
        } else {
            list_href(tab.as_str(), "")
        },
    })
}

/// 退换货 on the home page: the VP's 退换货待审批 and the warehouse's 退货待收.
pub fn home_queues(
    office: &crate::service::BackOffice,
    role: crate::domain::role::Role,
    cap: usize,
) -> Result<Vec<super::home::QueueCount>, crate::service::ServiceError> {
    let (label, state) = if role.may(Action::DecideReturn) {
        ("退换货待审批", ReturnState::Pending)
    } else if role.may(Action::ReceiveReturn) {
        ("退货待收", ReturnState::Approved)
    } else {
        return Ok(Vec::new());
    };
    let n = office.return_count(state, cap)?;
    Ok(vec![super::home::QueueCount::capped(
        label,
        n,
        cap,
        list_href(state.as_str(), ""),
    )])
}

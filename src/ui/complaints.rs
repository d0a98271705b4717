//! 客诉: the complaint list with a tab per state (处理中, 上报主管, 已结案, 全部), the form that
//! records one (from the list, or from an order's page with the order filled in), and a
//! complaint's page with its timeline, the returns it led to and the actions the signed-in role
//! may take, posted to one `/ui/complaints/{id}/act` route that calls the same use cases as the
//! API. Lists read the complaint indexes a page at a time, never every complaint.

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::format::{day_of, minute_of, quantity, query_string, role_label};
use super::order_list::Tab;
use super::order_page::{chinese_half, describe_fact, reason_in_chinese, said, Refusal};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::complaint::{Category, Channel, Satisfaction, Stage};
use crate::domain::facts::{ReturnKind, ShipLine};
use crate::domain::role::Action;
use crate::http::{decode_cursor, read, write, AppState};
use crate::service::complaints::{
    ComplaintQuery, ComplaintView, NewComplaint, ReturnInput, StateFilter,
};
use crate::service::customers::CustomerQuery;
use crate::views::CustomerSummary;

pub const PAGE_SIZE: usize = 50;
/// Customers offered when the name typed matches several.
const CUSTOMER_CHOICES: usize = 20;

/// The tabs: `state` value, label.
const TABS: [(&str, &str); 4] = [
    ("open", "处理中"),
    ("escalated", "上报主管"),
    ("closed", "已结案"),
    ("all", "全部"),
];

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    state: String,
    #[serde(default)]
    cursor: String,
}

pub struct Row {
    pub number: String,
    pub href: String,
    pub day: String,
    pub customer: String,
    pub store: String,
    pub channel: &'static str,
    pub category: &'static str,
    pub content: String,
    pub stage: &'static str,
    pub assigned_to: String,
    /// Days open, when open.
    pub days_open: String,
    /// Open longer than the company allows (上报主管).
    pub escalated: bool,
}

#[derive(Template)]
#[template(path = "complaints.html")]
struct ListPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<Row>,
    can_record: bool,
    next_href: String,
    first_href: String,
}

fn list_href(state: &str, cursor: &str) -> String {
    format!(
        "/ui/complaints{}",
        query_string(&[("state", state), ("cursor", cursor)])
    )
}

pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let tab = if TABS.iter().any(|(s, _)| *s == p.state) {
        p.state.clone()
    } else {
        "open".to_string()
    };
    let mut query = ComplaintQuery::all(PAGE_SIZE);
    query.state = StateFilter::parse(&tab);
    query.escalate_after_days = state.office.escalation.open_complaint_days;
    query.cursor =
        decode_cursor(Some(&p.cursor)).map_err(|_| PageError::NotFound("这一页".into()))?;
    let page = read(&state, move |o| o.list_complaints(&query)).await?;
    let rows = page
        .items
        .into_iter()
        .map(|r| {
            let c = r.complaint;
            Row {
                href: format!("/ui/complaints/{}", c.id),
                number: c.number,
                day: day_of(&c.created_at),
                customer: c.customer_name,
                store: c.store,
                channel: c.channel.map(Channel::label_zh).unwrap_or(""),
                category: c.category.label_zh(),
                content: c.content,
                stage: c.stage.label_zh(),
                assigned_to: c.assigned_to,
                days_open: r.days_open.map(|d| d.to_string()).unwrap_or_default(),
                escalated: r.escalated && !c.escalation_acknowledged,
            }
        })
        .collect();
    render(&ListPage {
        chrome: Chrome::new(&state, &signed, "/ui/complaints"),
        tabs: TABS
            .iter()
            .map(|(value, label)| Tab {
                label,
                count: String::new(),
                href: list_href(value, ""),
                active: *value == tab,
            })
            .collect(),
        rows,
        can_record: signed.user.role.may(Action::RecordComplaint),
        next_href: page
            .next_cursor
            .map(|c| list_href(&tab, &c))
            .unwrap_or_default(),
        first_href: if p.cursor.is_empty() {
            String::new()
        } else {
            list_href(&tab, "")
        },
    })
}

/// One input of an action form: a text field, a text area, or a choice.
pub struct Input {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    /// `(value, label)`: a select when not empty.
    pub choices: Vec<(String, String)>,
}

fn text(name: &'static str, label: &'static str) -> Input {
    Input {
        name,
        label,
        value: String::new(),
        choices: Vec::new(),
    }
}

fn choice(name: &'static str, label: &'static str, choices: Vec<(String, String)>) -> Input {
    Input {
        name,
        label,
        value: String::new(),
        choices,
    }
}

pub struct ActionForm {
    pub action: &'static str,
    pub label: &'static str,
    pub inputs: Vec<Input>,
}

pub struct ReturnRow {
    pub order_number: String,
    pub order_href: String,
    pub kind: &'static str,
    pub state: String,
}

pub struct FactRow {
    pub at: String,
    pub what: String,
    pub user: String,
    pub role: &'static str,
    pub node: String,
}

#[derive(Template)]
#[template(path = "complaint.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    number: String,
    stage: &'static str,
    header: Vec<(&'static str, String)>,
    content: String,
    /// Attachment names of the complaint's photos, shown in place.
    photos: Vec<String>,
    escalation: String,
    returns: Vec<ReturnRow>,
    facts: Vec<FactRow>,
    anomalies: Vec<String>,
    actions: Vec<ActionForm>,
    error: String,
    notice: String,
}

fn kind_label(kind: ReturnKind) -> &'static str {
    match kind {
        ReturnKind::Return => "退货",
        ReturnKind::Exchange => "换货",
        ReturnKind::Repair => "维修",
    }
}

/// The complaint and the shipped lines of its order (for the return form).
struct Loaded {
    view: ComplaintView,
    /// `(line id, label)` of the lines of the complaint's order that shipped.
    shipped_lines: Vec<(String, String)>,
}

async fn load(state: &AppState, id: &str) -> Result<Loaded, PageError> {
    let id = id.to_string();
    Ok(read(state, move |o| {
        let view = o.complaint_view(&o.complaint(&id)?)?;
        let shipped_lines = match view.order_id.as_deref().map(|order| o.order(order)) {
            Some(Ok(order)) => {
                let shipped = order.shipped_per_line();
                order
                    .lines
                    .iter()
                    .filter_map(|l| {
                        let done = shipped.get(&l.id).copied().unwrap_or_default();
                        (done > Decimal::ZERO).then(|| {
                            (
                                l.id.clone(),
                                format!("{} {}（已发 {}）", l.sku, l.spec, quantity(done)),
                            )
                        })
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(Loaded {
            view,
            shipped_lines,
        })
    })
    .await?)
}

/// The forms this role may use on the complaint as it stands.
fn action_forms(signed: &SignedIn, loaded: &Loaded) -> Vec<ActionForm> {
    let role = signed.user.role;
    let view = &loaded.view;
    let open = view.stage != Stage::Closed;
    let options = |all: &[(&str, &str)]| {
        all.iter()
            .map(|(v, l)| (v.to_string(), l.to_string()))
            .collect::<Vec<_>>()
    };
    let satisfaction: Vec<(String, String)> = Satisfaction::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), s.label_zh().to_string()))
        .collect();
    let candidates = [
        (
            Action::AssignComplaint,
            open,
            "assign",
            if view.assigned_to.is_some() {
                "改派"
            } else {
                "分派"
            },
            vec![text("to", "负责人或部门"), text("note", "说明")],
        ),
        (
            Action::HandleComplaint,
            open && view.assigned_to.is_some(),
            "handle",
            "登记处理",
            vec![text("note", "处理情况")],
        ),
        (
            Action::CloseComplaint,
            open && view.handled > 0,
            "close",
            "结案",
            vec![
                text("result", "处理结果"),
                choice("satisfaction", "客户满意度", satisfaction),
            ],
        ),
        (
            Action::CloseComplaint,
            !open,
            "reopen",
            "重新打开",
            vec![text("reason", "原因")],
        ),
        (
            Action::AcknowledgeComplaint,
            open && view.escalated && !view.escalation_acknowledged,
            "acknowledge",
            "确认上报",
            vec![text("note", "意见")],
        ),
        (
            Action::RequestReturn,
            open && !loaded.shipped_lines.is_empty(),
            "return",
            "转退换维修",
            vec![
                choice(
                    "kind",
                    "类型",
                    options(&[("repair", "维修"), ("exchange", "换货"), ("return", "退货")]),
                ),
                choice("line", "货品", loaded.shipped_lines.clone()),
                Input {
                    value: "1".into(),
                    ..text("quantity", "数量")
                },
                text("reason", "原因"),
            ],
        ),
    ];
    candidates
        .into_iter()
        .filter(|(needs, shown, ..)| *shown && role.may(*needs))
        .map(|(_, _, action, label, inputs)| ActionForm {
            action,
            label,
            inputs,
        })
        .collect()
}

async fn detail_page(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    error: String,
    notice: String,
) -> Result<Html<String>, PageError> {
    let loaded = load(state, id).await?;
    let actions = action_forms(signed, &loaded);
    let view = loaded.view;
    let mut header = vec![
        ("客户", view.customer_name.clone()),
        ("门店", view.store.clone()),
        ("渠道", view.channel_label.clone()),
        ("类别", view.category_label.clone()),
        ("登记时间", minute_of(&view.created_at)),
    ];
    if let Some(to) = &view.assigned_to {
        header.push(("负责", to.clone()));
    }
    if let Some(result) = &view.result {
        header.push(("处理结果", result.clone()));
    }
    if let Some(satisfaction) = &view.satisfaction_label {
        header.push(("客户满意度", satisfaction.clone()));
    }
    if !view.photos.is_empty() {
        header.push(("照片", format!("{} 张", view.photos.len())));
    }
    let escalation = match view.days_open {
        None => String::new(),
        Some(days) if view.escalated && view.escalation_acknowledged => {
            format!("已开 {days} 天，超过期限，主管已确认")
        }
        Some(days) if view.escalated => format!("已开 {days} 天，超过期限，已上报主管"),
        Some(days) => format!("已开 {days} 天"),
    };
    render(&DetailPage {
        chrome: Chrome::new(state, signed, "/ui/complaints"),
        id: id.to_string(),
        number: view.number.clone(),
        stage: view.stage.label_zh(),
        header,
        content: view.content.clone(),
        photos: view.photos.clone(),
        escalation,
        returns: view
            .returns
            .iter()
            .map(|r| ReturnRow {
                order_number: if r.order_number.is_empty() {
                    r.order.clone()
                } else {
                    r.order_number.clone()
                },
                order_href: format!("/ui/orders/{}", r.order),
                kind: r.kind.map(kind_label).unwrap_or(""),
                state: r.state_label.clone(),
            })
            .collect(),
        facts: view
            .facts
            .iter()
            .map(|f| FactRow {
                at: minute_of(&f.at.to_rfc3339()),
                what: describe_fact(&f.body),
                user: f.user.clone(),
                role: role_label(f.role),
                node: f.node.clone(),
            })
            .collect(),
        anomalies: view
            .anomalies
            .iter()
            .map(|a| chinese_half(&a.detail).to_string())
            .collect(),
        actions,
        error,
        notice,
    })
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    detail_page(&state, &signed, &id, String::new(), String::new()).await
}

/// Every input any action form may send; each action reads the ones it needs.
#[derive(Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    satisfaction: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    line: String,
    #[serde(default)]
    quantity: String,
}

pub async fn act(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Result<Html<String>, PageError> {
    signed.check_csrf(&form.csrf)?;
    let outcome = perform(&state, &signed, &id, form).await;
    let (error, notice) = said(outcome.map(str::to_string))?;
    detail_page(&state, &signed, &id, error, notice).await
}

/// Runs one action; returns what the page says once it is done.
async fn perform(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    form: ActForm,
) -> Result<&'static str, Refusal> {
    let user = signed.user.clone();
    let id = id.to_string();
    Ok(match form.action.as_str() {
        "assign" => {
            write(state, move |o| {
                o.assign_complaint(&user, &id, form.to, form.note)
            })
            .await?;
            "已分派"
        }
        "handle" => {
            write(state, move |o| o.handle_complaint(&user, &id, form.note)).await?;
            "已登记处理情况"
        }
        "close" => {
            write(state, move |o| {
                o.close_complaint(&user, &id, form.result, &form.satisfaction)
            })
            .await?;
            "已结案"
        }
        "reopen" => {
            write(state, move |o| o.reopen_complaint(&user, &id, form.reason)).await?;
            "已重新打开"
        }
        "acknowledge" => {
            write(state, move |o| {
                o.acknowledge_complaint_escalation(&user, &id, form.note)
            })
            .await?;
            "已确认上报"
        }
        "return" => {
            let kind = match form.kind.as_str() {
                "return" => ReturnKind::Return,
                "exchange" => ReturnKind::Exchange,
                "repair" => ReturnKind::Repair,
                _ => return Err(Refusal::Said("请选择退换类型".into())),
            };
            let quantity = form
                .quantity
                .trim()
                .parse::<Decimal>()
                .map_err(|_| format!("数量“{}”不是数字", form.quantity))?;
            let input = ReturnInput::New {
                order: None,
                kind,
                lines: vec![ShipLine {
                    line: form.line,
                    quantity,
                    unit_price: None,
                }],
                reason: form.reason,
                photos: Vec::new(),
                damaged: false,
            };
            write(state, move |o| o.complaint_return(&user, &id, input)).await?;
            "已申请退换维修，等待销售副总审批"
        }
        _ => return Err(Refusal::Said("不认识的操作".into())),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct NewParams {
    /// An order's id: the complaint is about it (from the order's page).
    #[serde(default)]
    order: String,
    /// A customer's id, once chosen.
    #[serde(default)]
    customer: String,
    /// A customer's name, code or phone, to choose one by.
    #[serde(default)]
    customer_q: String,
}

/// What the form sends; kept to show it again when something is refused.
#[derive(Debug, Default, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    customer_q: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    store: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    content: String,
    /// Photos uploaded with an earlier try of this form (hashes, comma-separated), kept when
    /// the form comes back with a refusal.
    #[serde(default)]
    photos: String,
}

impl NewForm {
    fn photo_hashes(&self) -> Vec<String> {
        super::attachments::kept_names(&self.photos)
    }
}

pub struct CustomerChoice {
    pub label: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "complaint_new.html")]
struct NewPage {
    chrome: Chrome,
    form: NewForm,
    customer_label: String,
    order_number: String,
    channels: Vec<(&'static str, &'static str)>,
    categories: Vec<(&'static str, &'static str)>,
    choices: Vec<CustomerChoice>,
    error: String,
}

fn customer_label(c: &CustomerSummary) -> String {
    format!("{}（{}，{}）", c.name, c.code, c.city)
}

/// Fills in the customer (from the order, the chosen id, or a search matching one archive), the
/// order's number and store, or the archives to choose from.
fn resolve(
    office: &crate::service::BackOffice,
    form: &mut NewForm,
) -> Result<(String, String, Vec<CustomerChoice>), crate::service::ServiceError> {
    let mut order_number = String::new();
    if !form.order.is_empty() {
        let order = office.order(&form.order)?;
        order_number = order.get("number").to_string();
        form.customer = order.get("customer_id").to_string();
        if form.store.is_empty() {
            form.store = order.get("store").to_string();
        }
    }
    let mut choices = Vec::new();
    if form.customer.is_empty() && !form.customer_q.trim().is_empty() {
        let found = office.search_customers(&CustomerQuery {
            q: Some(form.customer_q.clone()),
            limit: CUSTOMER_CHOICES,
            ..CustomerQuery::default()
        })?;
        if let [only] = found.items.as_slice() {
            form.customer = only.id.clone();
        } else {
            choices = found
                .items
                .iter()
                .map(|c| CustomerChoice {
                    label: customer_label(c),
                    href: format!("/ui/complaints/new{}", query_string(&[("customer", &c.id)])),
                })
                .collect();
        }
    }
    let label = if form.customer.is_empty() {
        String::new()
    } else {
        office
            .summary_of::<CustomerSummary>(&form.customer)?
            .map(|c| customer_label(&c))
            .unwrap_or_default()
    };
    Ok((label, order_number, choices))
}

async fn new_page(
    state: &AppState,
    signed: &SignedIn,
    mut form: NewForm,
    mut error: String,
) -> Result<Html<String>, PageError> {
    if !signed.user.role.may(Action::RecordComplaint) {
        return Err(PageError::Forbidden("record complaint".into()));
    }
    let (form, customer_label, order_number, choices) = read(state, move |o| {
        let (label, number, choices) = resolve(o, &mut form)?;
        Ok((form, label, number, choices))
    })
    .await?;
    if error.is_empty() && !form.customer_q.trim().is_empty() && form.customer.is_empty() {
        error = if choices.is_empty() {
            format!("没有找到客户“{}”", form.customer_q.trim())
        } else {
            "找到多个客户，请选择一个".to_string()
        };
    }
    render(&NewPage {
        chrome: Chrome::new(state, signed, "/ui/complaints"),
        form,
        customer_label,
        order_number,
        channels: Channel::ALL
            .iter()
            .map(|c| (c.as_str(), c.label_zh()))
            .collect(),
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str(), c.label_zh()))
            .collect(),
        choices,
        error,
    })
}

pub async fn new_form(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<NewParams>,
) -> Result<Html<String>, PageError> {
    let form = NewForm {
        customer: p.customer,
        customer_q: p.customer_q,
        order: p.order,
        ..NewForm::default()
    };
    new_page(&state, &signed, form, String::new()).await
}

pub async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    request: Request,
) -> Result<Response, PageError> {
    let (mut form, photos) =
        match super::attachments::read_form_with_photos::<NewForm>(&state, request).await {
            Ok(read) => read,
            Err(why) => return Err(PageError::Refused(why)),
        };
    signed.check_csrf(&form.csrf)?;
    // The photos are stored first; the form keeps their names, so a refusal below loses none.
    let mut hashes = form.photo_hashes();
    let stored = super::attachments::store_files(&state, &signed.user, photos, &mut hashes).await;
    form.photos = hashes.join(",");
    if let Err(e) = stored {
        let why = reason_in_chinese(e)?;
        return Ok(new_page(&state, &signed, form, why).await?.into_response());
    }
    if form.customer.is_empty() {
        let why = if form.customer_q.trim().is_empty() {
            "请先选择客户".to_string()
        } else {
            String::new()
        };
        return Ok(new_page(&state, &signed, form, why).await?.into_response());
    }
    let user = signed.user.clone();
    let new = NewComplaint {
        customer_id: form.customer.clone(),
        store: form.store.clone(),
        order_id: Some(form.order.clone()).filter(|o| !o.is_empty()),
        channel: form.channel.clone(),
        category: form.category.clone(),
        content: form.content.clone(),
        photos: form.photo_hashes(),
    };
    match crate::http::create(&state, move |o| o.create_complaint(&user, new)).await {
        Ok(view) => Ok(Redirect::to(&format!("/ui/complaints/{}", view.id)).into_response()),
        Err(e) => {
            let why = reason_in_chinese(e)?;
            Ok(new_page(&state, &signed, form, why).await?.into_response())
        }
    }
}

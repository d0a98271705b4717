//! 新建客户 and 编辑档案: a customer archive typed in the workbench, header fields and its
//! contacts, addresses, depots and invoice profiles as rows (blank rows are left out, so a new
//! contact is typed into the next blank row, without script; 再加一行 shows the form again with
//! one more blank row of that collection, saving nothing). On an edit each existing row has a
//! 删除 checkbox: saving removes the checked rows (`remove` of `patch_customer`). The dealer a
//! store belongs to is named by the dealer's name or code. The same use cases as the API
//! (`create_customer`, `patch_customer`); an edit sends only what changed. A refusal shows each
//! error beside its field, in Chinese, keeping what was typed and checked.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;

use super::customers::SECTIONS;
use super::order_page::chinese_half;
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::customer::{Customer, CustomerInput, Item};
use crate::domain::role::Action;
use crate::http::error::ApiError;
use crate::http::{create, read, write, AppState};
use crate::service::customers::CustomerQuery;
use crate::service::{BackOffice, ServiceError, User};

/// The header fields the form asks for, with their labels; `kind` and `status` are choices.
const HEADER: &[(&str, &str)] = &[
    ("name", "名称"),
    ("code", "编码"),
    ("kind", "类型"),
    ("dealer", "所属经销商（名称或编码）"),
    ("province", "省份"),
    ("city", "城市"),
    ("region", "区域"),
    ("channel", "渠道"),
    ("owner", "业务负责人"),
    ("status", "状态"),
    ("tax_id", "税号"),
    ("payment_terms", "付款条件"),
    ("credit_limit", "信用额度"),
    ("note", "备注"),
];

const KIND_CHOICES: &[(&str, &str)] = &[
    ("store", "门店"),
    ("dealer", "经销商"),
    ("direct", "直营"),
    ("project", "工程客户"),
];
const STATUS_CHOICES: &[(&str, &str)] = &[("active", "正常"), ("frozen", "冻结")];

/// Blank rows each collection offers beyond the items it holds, unless 再加一行 asked for more.
const BLANK_ROWS: usize = 2;
const MAX_BLANK_ROWS: usize = 50;

pub struct HeaderInput {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    /// `(value, label)` when the field is a choice.
    pub choices: &'static [(&'static str, &'static str)],
    pub error: String,
}

pub struct ItemRow {
    /// The item's id when it is already in the archive (its fields change in place), and the
    /// name of the hidden input carrying it.
    pub id: String,
    pub id_name: String,
    /// The name of its 删除 checkbox (rows of items already in the archive), and whether it
    /// is checked.
    pub remove_name: String,
    pub removing: bool,
    pub cells: Vec<(String, String)>,
    pub error: String,
}

pub struct Block {
    pub id: &'static str,
    pub title: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<ItemRow>,
    /// How many blank rows it shows (posted back, so 再加一行 adds to them).
    pub blanks: usize,
    /// Whether any row is an existing item (the 删除 column is shown).
    pub removable: bool,
}

#[derive(Template)]
#[template(path = "customer_form.html")]
struct FormPage {
    chrome: Chrome,
    title: String,
    action: String,
    header: Vec<HeaderInput>,
    blocks: Vec<Block>,
    error: String,
}

/// The form as posted: `f_<field>` for the header, `<collection>.<row>.<field>` for items
/// (`<collection>.<row>.remove` for a checked 删除), `blanks.<collection>` for the blank rows
/// shown, `more=<collection>` for 再加一行.
type Posted = Vec<(String, String)>;

/// A row of a collection as shown: the item's id (empty for a new one) and its field values.
type Row = (String, BTreeMap<String, String>);

/// What the form shows: typed values (or the archive's).
#[derive(Clone)]
struct Shown {
    header: BTreeMap<String, String>,
    /// Per collection, its rows.
    items: BTreeMap<String, Vec<Row>>,
    /// Per collection, the ids of the items checked 删除.
    removed: BTreeMap<String, BTreeSet<String>>,
    /// Per collection, the blank rows to show when not `BLANK_ROWS`.
    blanks: BTreeMap<String, usize>,
}

impl Shown {
    fn of_customer(customer: &Customer, dealer_label: String) -> Shown {
        let mut header: BTreeMap<String, String> = HEADER
            .iter()
            .map(|(name, _)| (name.to_string(), customer.get(name).to_string()))
            .collect();
        header.insert("dealer".into(), dealer_label);
        let items = SECTIONS
            .iter()
            .map(|(id, _, _)| {
                let rows = customer
                    .collections
                    .get(*id)
                    .into_iter()
                    .flatten()
                    .map(|item| {
                        let id = item.get("id").cloned().unwrap_or_default();
                        (id, item.clone())
                    })
                    .collect();
                (id.to_string(), rows)
            })
            .collect();
        Shown {
            header,
            items,
            removed: BTreeMap::new(),
            blanks: BTreeMap::new(),
        }
    }

    fn of_posted(posted: &Posted) -> Shown {
        let mut header = BTreeMap::new();
        let mut items: BTreeMap<String, BTreeMap<usize, Row>> = BTreeMap::new();
        let mut checked: Vec<(String, usize)> = Vec::new();
        let mut blanks = BTreeMap::new();
        for (key, value) in posted {
            if let Some(field) = key.strip_prefix("f_") {
                header.insert(field.to_string(), value.clone());
                continue;
            }
            if let Some(collection) = key.strip_prefix("blanks.") {
                if let Ok(n) = value.parse::<usize>() {
                    // At most 50 blank rows: a posted number cannot make a page of any size.
                    blanks.insert(collection.to_string(), n.min(MAX_BLANK_ROWS));
                }
                continue;
            }
            let mut parts = key.splitn(3, '.');
            let (Some(collection), Some(row), Some(field)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Some(_), Ok(row)) = (
                SECTIONS.iter().find(|(id, _, _)| *id == collection),
                row.parse::<usize>(),
            ) else {
                continue;
            };
            let entry = items
                .entry(collection.to_string())
                .or_default()
                .entry(row)
                .or_default();
            if field == "id" {
                entry.0 = value.clone();
            } else if field == "remove" {
                checked.push((collection.to_string(), row));
            } else {
                entry.1.insert(field.to_string(), value.trim().to_string());
            }
        }
        let mut removed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (collection, row) in checked {
            if let Some((id, _)) = items.get(&collection).and_then(|rows| rows.get(&row)) {
                if !id.is_empty() {
                    removed.entry(collection).or_default().insert(id.clone());
                }
            }
        }
        if let Some((_, more)) = posted.iter().find(|(k, _)| k == "more") {
            if SECTIONS.iter().any(|(id, _, _)| id == more) {
                let n = blanks.get(more).copied().unwrap_or(BLANK_ROWS);
                blanks.insert(more.clone(), (n + 1).min(MAX_BLANK_ROWS));
            }
        }
        Shown {
            header,
            // Blank new rows are shown again as the blank rows below the others.
            items: items
                .into_iter()
                .map(|(c, rows)| {
                    let rows = rows
                        .into_values()
                        .filter(|(id, values)| {
                            !id.is_empty() || values.values().any(|v| !v.is_empty())
                        })
                        .collect();
                    (c, rows)
                })
                .collect(),
            removed,
            blanks,
        }
    }
}

/// The page, with the errors by field path (`name`, `contacts[1].mobile`, …).
fn form_page(
    state: &AppState,
    signed: &SignedIn,
    editing: Option<&str>,
    shown: &Shown,
    errors: &BTreeMap<String, String>,
    error: String,
) -> Result<Html<String>, PageError> {
    let header = HEADER
        .iter()
        .filter(|(name, _)| editing.is_some() || *name != "status")
        .map(|(name, label)| HeaderInput {
            name,
            label,
            value: shown.header.get(*name).cloned().unwrap_or_default(),
            choices: match *name {
                "kind" => KIND_CHOICES,
                "status" => STATUS_CHOICES,
                _ => &[],
            },
            error: errors.get(*name).cloned().unwrap_or_default(),
        })
        .collect();
    let blocks = SECTIONS
        .iter()
        .map(|(id, title, fields)| {
            let held = shown.items.get(*id).cloned().unwrap_or_default();
            let removable = held.iter().any(|(item_id, _)| !item_id.is_empty());
            let removed = shown.removed.get(*id);
            let blank_rows = shown.blanks.get(*id).copied().unwrap_or(BLANK_ROWS);
            let blanks = (0..blank_rows).map(|_| (String::new(), BTreeMap::new()));
            Block {
                id,
                title,
                headers: fields.iter().map(|(_, label)| *label).collect(),
                blanks: blank_rows,
                removable,
                rows: held
                    .into_iter()
                    .chain(blanks)
                    .enumerate()
                    .map(|(row, (item_id, values))| ItemRow {
                        removing: removed.is_some_and(|r| r.contains(&item_id)),
                        remove_name: format!("{id}.{row}.remove"),
                        id: item_id,
                        id_name: format!("{id}.{row}.id"),
                        cells: fields
                            .iter()
                            .map(|(name, _)| {
                                (
                                    format!("{id}.{row}.{name}"),
                                    values.get(*name).cloned().unwrap_or_default(),
                                )
                            })
                            .collect(),
                        error: errors
                            .iter()
                            .filter(|(path, _)| path.starts_with(&format!("{id}[{row}]")))
                            .map(|(path, why)| format!("{path}：{why}"))
                            .collect::<Vec<_>>()
                            .join("；"),
                    })
                    .collect(),
            }
        })
        .collect();
    render(&FormPage {
        chrome: Chrome::new(state, signed, "/ui/customers"),
        title: if editing.is_some() {
            "编辑客户档案".into()
        } else {
            "新建客户".into()
        },
        action: match editing {
            Some(id) => format!("/ui/customers/{id}/edit"),
            None => "/ui/customers/new".into(),
        },
        header,
        blocks,
        error,
    })
}

fn require_editor(signed: &SignedIn) -> Result<(), PageError> {
    if signed.user.role.may(Action::EditCustomer) {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "只有内勤可以建立或修改客户档案".into(),
        ))
    }
}

/// `GET /ui/customers/new`.
pub async fn new_form(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, PageError> {
    require_editor(&signed)?;
    let shown = Shown {
        header: BTreeMap::from([("kind".to_string(), "store".to_string())]),
        items: BTreeMap::new(),
        removed: BTreeMap::new(),
        blanks: BTreeMap::new(),
    };
    form_page(
        &state,
        &signed,
        None,
        &shown,
        &BTreeMap::new(),
        String::new(),
    )
}

/// `GET /ui/customers/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    require_editor(&signed)?;
    let lookup = id.clone();
    let (customer, dealer) = read(&state, move |o| {
        let customer = o.customer(&lookup)?;
        let dealer = match customer.get("dealer") {
            "" => String::new(),
            dealer => o
                .summary_of::<crate::views::CustomerSummary>(dealer)?
                .map(|d| d.name)
                .unwrap_or_else(|| dealer.to_string()),
        };
        Ok((customer, dealer))
    })
    .await?;
    let shown = Shown::of_customer(&customer, dealer);
    form_page(
        &state,
        &signed,
        Some(&id),
        &shown,
        &BTreeMap::new(),
        String::new(),
    )
}

/// The archive as typed, as the use cases take it: header fields that are set (on an edit,
/// those that changed), and the rows that hold something (on an edit, the fields that changed
/// of items already there). Returns the input and, per collection, the form row of each item
/// given, to put the service's errors (`contacts[0]…`) back on their rows.
fn input_of(
    shown: &Shown,
    current: Option<&Customer>,
    dealer_id: Option<String>,
) -> (CustomerInput, BTreeMap<String, Vec<usize>>) {
    let mut input = CustomerInput::default();
    for (name, _) in HEADER {
        let typed = shown.header.get(*name).map(|v| v.trim().to_string());
        let value = if *name == "dealer" {
            dealer_id.clone()
        } else {
            typed
        };
        let Some(value) = value else { continue };
        match current {
            Some(customer) if customer.get(name) == value => {}
            None if value.is_empty() => {}
            _ => {
                input.header.insert(name.to_string(), value);
            }
        }
    }
    let mut rows_of = BTreeMap::new();
    for (collection, rows) in &shown.items {
        let held: BTreeMap<&str, &Item> = current
            .and_then(|c| c.collections.get(collection))
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("id").map(|id| (id.as_str(), item)))
            .collect();
        let mut items = Vec::new();
        let mut positions = Vec::new();
        let checked = shown.removed.get(collection);
        let mut removing = Vec::new();
        for (row, (id, values)) in rows.iter().enumerate() {
            if held.contains_key(id.as_str()) && checked.is_some_and(|c| c.contains(id)) {
                // Removed: what was typed into the row is not saved.
                removing.push(id.clone());
                continue;
            }
            let mut item: Item = match held.get(id.as_str()) {
                Some(before) => values
                    .iter()
                    .filter(|(k, v)| before.get(*k).map(String::as_str).unwrap_or("") != v.as_str())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None => values
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            if item.is_empty() {
                continue;
            }
            if held.contains_key(id.as_str()) {
                item.insert("id".into(), id.clone());
            }
            items.push(item);
            positions.push(row);
        }
        if !items.is_empty() {
            input.collections.insert(collection.clone(), items);
            rows_of.insert(collection.clone(), positions);
        }
        if !removing.is_empty() {
            let rows: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, (id, _))| removing.contains(id))
                .map(|(row, _)| row)
                .collect();
            rows_of.insert(format!("remove.{collection}"), rows);
            input.remove.insert(collection.clone(), removing);
        }
    }
    (input, rows_of)
}

/// The dealer archive `text` names (name or code, exactly), None when `text` is empty.
fn dealer_named(office: &BackOffice, text: &str) -> Result<Option<String>, ServiceError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let found = office.search_customers(&CustomerQuery {
        q: Some(text.to_string()),
        limit: 20,
        ..Default::default()
    })?;
    let dealers: Vec<_> = found
        .items
        .iter()
        .filter(|c| c.name == text || c.code == text)
        .collect();
    match dealers.as_slice() {
        [one] => Ok(Some(one.id.clone())),
        [] => Err(ServiceError::Rule(format!(
            "找不到经销商「{text}」 / no dealer archive found"
        ))),
        _ => Err(ServiceError::Rule(format!(
            "「{text}」对应多份档案，请填编码 / several archives match"
        ))),
    }
}

/// The service's refusal as the form shows it: field errors by path, or one message.
fn refusal(
    e: ApiError,
    rows_of: &BTreeMap<String, Vec<usize>>,
) -> Result<(BTreeMap<String, String>, String), PageError> {
    match e {
        ApiError::Invalid(errors) | ApiError::BadRequest(_, errors) => {
            let by_path = errors
                .iter()
                .map(|e| {
                    // `contacts[0].mobile` names the 0th item given: put it on its form row.
                    let path = match e.field.split_once('[') {
                        Some((collection, rest)) => {
                            let (index, tail) = rest.split_once(']').unwrap_or((rest, ""));
                            let row = index
                                .parse::<usize>()
                                .ok()
                                .and_then(|i| rows_of.get(collection)?.get(i).copied());
                            match (row, collection.strip_prefix("remove.")) {
                                // An item to remove that is not there (removed elsewhere).
                                (Some(row), Some(bare)) => format!("{bare}[{row}].删除"),
                                (Some(row), None) => format!("{collection}[{row}]{tail}"),
                                (None, _) => e.field.clone(),
                            }
                        }
                        None => e.field.clone(),
                    };
                    (path, chinese_half(&e.message).to_string())
                })
                .collect();
            Ok((by_path, "请按提示修改标出的栏目".into()))
        }
        ApiError::Conflict(rule) => Ok((BTreeMap::new(), chinese_half(&rule).to_string())),
        other => Err(other.into()),
    }
}

async fn save(
    state: &AppState,
    signed: &SignedIn,
    editing: Option<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    require_editor(signed)?;
    let csrf = posted
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    signed.check_csrf(&csrf)?;
    let shown = Shown::of_posted(&posted);
    if posted.iter().any(|(k, _)| k == "more") {
        // 再加一行: the same form with one more blank row, nothing saved.
        let page = form_page(
            state,
            signed,
            editing.as_deref(),
            &shown,
            &BTreeMap::new(),
            String::new(),
        )?;
        return Ok(page.into_response());
    }
    let user: User = signed.user.clone();
    let dealer_text = shown.header.get("dealer").cloned().unwrap_or_default();
    let target = editing.clone();
    let typed = shown.clone();
    // The use case's refusal comes back with the form rows of the items it was given, so each
    // error lands on its row.
    type Saved = (Result<String, ServiceError>, BTreeMap<String, Vec<usize>>);
    let work = move |o: &BackOffice| -> Result<Saved, ServiceError> {
        let current = match &target {
            Some(id) => Some(o.customer(id)?),
            None => None,
        };
        let dealer = match dealer_named(o, &dealer_text) {
            Ok(Some(id)) => Some(id),
            // An edit that empties the field unlinks the store from its dealer.
            Ok(None)
                if current
                    .as_ref()
                    .is_some_and(|c| !c.get("dealer").is_empty()) =>
            {
                Some(String::new())
            }
            Ok(None) => None,
            Err(e) => return Ok((Err(e), BTreeMap::new())),
        };
        let (input, rows_of) = input_of(&typed, current.as_ref(), dealer);
        let saved = match &target {
            Some(id)
                if input.header.is_empty()
                    && input.collections.is_empty()
                    && input.remove.is_empty() =>
            {
                Ok(id.clone())
            }
            Some(id) => o.patch_customer(&user, id, input).map(|_| id.clone()),
            None => o.create_customer(&user, input).map(|c| c.id),
        };
        Ok((saved, rows_of))
    };
    let (saved, rows_of) = match &editing {
        Some(_) => write(state, work).await?,
        None => create(state, work).await?,
    };
    match saved {
        Ok(id) => Ok(Redirect::to(&format!("/ui/customers/{id}")).into_response()),
        Err(e) => {
            let (errors, why) = refusal(ApiError::from(e), &rows_of)?;
            Ok(form_page(state, signed, editing.as_deref(), &shown, &errors, why)?.into_response())
        }
    }
}

/// `POST /ui/customers/new`.
pub async fn create_submit(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    save(&state, &signed, None, posted).await
}

/// `POST /ui/customers/{id}/edit`.
pub async fn edit_submit(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    save(&state, &signed, Some(id), posted).await
}

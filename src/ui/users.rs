//! 用户管理, the admin's page: list the node's users, add one (name, role, password), disable or
//! enable, reset a password, change a role. The service enforces that only the admin may.

use askama::Template;
use axum::extract::{Form, State};
use axum::response::Html;
use serde::Deserialize;

use super::format::role_label;
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::role::Role;
use crate::http::error::ApiError;
use crate::http::{read, AppState};
use crate::service::users::MIN_PASSWORD_CHARS;

pub struct AccountRow {
    pub name: String,
    /// `Role::as_str`, to select the role's option.
    pub role: &'static str,
    pub role_label: &'static str,
    pub disabled: bool,
    pub has_password: bool,
}

pub struct RoleOption {
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    accounts: Vec<AccountRow>,
    role_options: Vec<RoleOption>,
    error: String,
    notice: String,
    new_token: String,
    min_chars: usize,
}

/// What a form did, for the page shown after it.
#[derive(Default)]
struct Outcome {
    error: String,
    notice: String,
    new_token: String,
}

async fn users_page(
    state: &AppState,
    signed: &SignedIn,
    outcome: Outcome,
) -> Result<Html<String>, PageError> {
    let admin = signed.user.clone();
    let accounts = read(state, move |office| office.accounts(&admin)).await?;
    render(&UsersPage {
        chrome: Chrome::new(state, signed, "/ui/users"),
        accounts: accounts
            .into_iter()
            .map(|a| AccountRow {
                name: a.name,
                role: a.role.as_str(),
                role_label: role_label(a.role),
                disabled: a.disabled,
                has_password: a.has_password,
            })
            .collect(),
        role_options: Role::ALL
            .into_iter()
            .map(|r| RoleOption {
                value: r.as_str(),
                label: role_label(r),
            })
            .collect(),
        error: outcome.error,
        notice: outcome.notice,
        new_token: outcome.new_token,
        min_chars: MIN_PASSWORD_CHARS,
    })
}

fn require_admin(signed: &SignedIn) -> Result<(), PageError> {
    if signed.user.role == Role::Admin {
        Ok(())
    } else {
        Err(PageError::Forbidden("only the admin manages users".into()))
    }
}

/// A refused change, said in Chinese on the page; anything else is an error page.
fn explain(e: ApiError) -> Result<Outcome, PageError> {
    let error = match e {
        ApiError::Invalid(fields) if fields.iter().any(|f| f.field == "password") => {
            format!("密码至少要有 {MIN_PASSWORD_CHARS} 个字符")
        }
        ApiError::Invalid(fields) if fields.iter().any(|f| f.field == "name") => {
            "用户名不能为空".to_string()
        }
        ApiError::Conflict(rule) if rule.contains("taken") => "这个用户名已经有人用了".into(),
        ApiError::Conflict(rule) if rule.contains("disable themself") => {
            "管理员不能停用自己".into()
        }
        ApiError::Conflict(rule) if rule.contains("admin role") => {
            "管理员不能取消自己的管理员角色".into()
        }
        ApiError::NotFound(_) => "没有这个用户".into(),
        other => return Err(other.into()),
    };
    Ok(Outcome {
        error,
        ..Outcome::default()
    })
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, PageError> {
    require_admin(&signed)?;
    users_page(&state, &signed, Outcome::default()).await
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    role: Role,
    #[serde(default)]
    password: String,
}

pub async fn add(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(form): Form<AddForm>,
) -> Result<Html<String>, PageError> {
    signed.check_csrf(&form.csrf)?;
    require_admin(&signed)?;
    let name = form.name.trim().to_string();
    let role = form.role;
    let added = name.clone();
    let result = read(&state, move |office| {
        office.add_user_with_password(&added, role, Some(&form.password))
    })
    .await;
    let outcome = match result {
        Ok(token) => Outcome {
            notice: format!("已添加用户 {name}（{}）", role_label(role)),
            new_token: token,
            ..Outcome::default()
        },
        Err(e) => explain(e)?,
    };
    users_page(&state, &signed, outcome).await
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    name: String,
    action: String,
    #[serde(default)]
    password: String,
    role: Option<Role>,
}

pub async fn change(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(form): Form<ChangeForm>,
) -> Result<Html<String>, PageError> {
    signed.check_csrf(&form.csrf)?;
    require_admin(&signed)?;
    let admin = signed.user.clone();
    let name = form.name.clone();
    let (notice, result) = match (form.action.as_str(), form.role) {
        ("disable", _) => (
            format!("已停用 {name}：其登录和令牌立即失效"),
            read(&state, move |o| o.set_disabled(&admin, &form.name, true)).await,
        ),
        ("enable", _) => (
            format!("已启用 {name}"),
            read(&state, move |o| o.set_disabled(&admin, &form.name, false)).await,
        ),
        ("password", _) => (
            format!("已重设 {name} 的密码"),
            read(&state, move |o| {
                o.set_password(&admin, &form.name, &form.password)
            })
            .await,
        ),
        ("role", Some(role)) => (
            format!("{name} 的角色已改为{}", role_label(role)),
            read(&state, move |o| o.set_role(&admin, &form.name, role)).await,
        ),
        _ => return Err(PageError::Refused("不认识的操作".into())),
    };
    let outcome = match result {
        Ok(()) => Outcome {
            notice,
            ..Outcome::default()
        },
        Err(e) => explain(e)?,
    };
    users_page(&state, &signed, outcome).await
}

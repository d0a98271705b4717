//! 修改密码: a signed-in user changes their own password, proving the current one.

use askama::Template;
use axum::extract::{Form, State};
use axum::response::Html;
use serde::Deserialize;

use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::http::error::ApiError;
use crate::http::{read, AppState};
use crate::service::users::MIN_PASSWORD_CHARS;

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    error: String,
    notice: &'static str,
    min_chars: usize,
}

fn password_page(
    state: &AppState,
    signed: &SignedIn,
    error: String,
    notice: &'static str,
) -> Result<Html<String>, PageError> {
    render(&PasswordPage {
        chrome: Chrome::new(state, signed, "/ui/password"),
        error,
        notice,
        min_chars: MIN_PASSWORD_CHARS,
    })
}

pub async fn form(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, PageError> {
    password_page(&state, &signed, String::new(), "")
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn submit(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Html<String>, PageError> {
    signed.check_csrf(&form.csrf)?;
    if form.new != form.confirm {
        return password_page(&state, &signed, "两次输入的新密码不一致".into(), "");
    }
    if form.new.chars().count() < MIN_PASSWORD_CHARS {
        let error = format!("新密码至少要有 {MIN_PASSWORD_CHARS} 个字符");
        return password_page(&state, &signed, error, "");
    }
    let user = signed.user.clone();
    let result = read(&state, move |office| {
        office.change_own_password(&user, &form.current, &form.new)
    })
    .await;
    match result {
        Ok(()) => password_page(&state, &signed, String::new(), "密码已修改"),
        Err(ApiError::Invalid(_)) => password_page(&state, &signed, "当前密码不对".into(), ""),
        Err(e) => Err(e.into()),
    }
}

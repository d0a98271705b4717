//! 登录 and 退出登录. A wrong password shows the form again with 「用户名或密码错误」 and the
//! name as typed; whether the name exists, has a password or is disabled is not told apart.
//! Passwords and session ids are never logged.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{self, SignedIn};
use super::{assets, render, PageError};
use crate::http::{read, AppState};

pub const WRONG_CREDENTIALS: &str = "用户名或密码错误";

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    node_name: String,
    name: String,
    error: &'static str,
    css: &'static str,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

fn sign_in_page(
    state: &AppState,
    name: String,
    error: &'static str,
) -> Result<Response, PageError> {
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    let html = render(&SignInPage {
        node_name: state.office.identity.name.clone(),
        name,
        error,
        css: assets::stylesheet_path(),
    })?;
    Ok((status, html).into_response())
}

pub async fn form(
    State(state): State<AppState>,
    signed: Option<SignedIn>,
) -> Result<Response, PageError> {
    if signed.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    sign_in_page(&state, String::new(), "")
}

pub async fn submit(
    State(state): State<AppState>,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim().to_string();
    let password = form.password;
    let lookup = name.clone();
    // Argon2 takes tens of milliseconds of CPU: off the async threads.
    let user = read(&state, move |office| office.sign_in(&lookup, &password)).await?;
    let Some(user) = user else {
        tracing::info!(user = %name, "workbench sign-in refused");
        return sign_in_page(&state, name, WRONG_CREDENTIALS);
    };
    let id = state.workbench.sessions.open(&user.name);
    tracing::info!(user = %user.name, role = %user.role, "workbench sign-in");
    Ok((
        [(header::SET_COOKIE, session::set_cookie(&id))],
        Redirect::to("/"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(form): Form<SignOutForm>,
) -> Result<Response, PageError> {
    signed.check_csrf(&form.csrf)?;
    state.workbench.sessions.close(&signed.session);
    Ok((
        [(header::SET_COOKIE, session::clear_cookie())],
        Redirect::to("/ui/login"),
    )
        .into_response())
}

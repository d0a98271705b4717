//! The workbench (内勤工作台): server-rendered pages in Chinese for the people at this node, beside
//! the API in `http`. A page handler is as thin as an API handler: it extracts the signed-in user
//! (`session::SignedIn`), calls the same `service` use cases through `http::read`/`http::write`,
//! and renders an askama template (checked at compile time).
//!
//! Invariants: nothing here touches the store; every page is sent with a Content-Security-Policy
//! that allows only this node (no inline script, no inline style, no other origin), and its
//! assets are embedded in the binary; every POST from a page carries its session's CSRF token.

mod anomalies;
pub mod assets;
mod attachments;
mod complaints;
mod contracts;
mod customer_compare;
mod customer_form;
mod customers;
mod delays;
pub mod format;
mod home;
mod order_list;
mod order_new;
mod order_page;
mod password;
mod print;
mod receivables;
mod reports;
mod returns;
pub mod session;
mod sign_in;
pub mod sync_state;
mod users;

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::error::ApiError;
use crate::http::AppState;
use session::{Sessions, SignedIn};
use sync_state::SyncStrip;

/// The policy every page is sent with: this node only, for everything.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The workbench's share of `AppState`.
#[derive(Clone, Default)]
pub struct Workbench {
    pub sessions: Sessions,
    /// False with `--no-mdns` and no static peers: the page then says 单机模式 until a peer calls.
    pub looks_for_peers: bool,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/ui/login", get(sign_in::form).post(sign_in::submit))
        .route("/ui/logout", post(sign_in::sign_out))
        .route("/ui/password", get(password::form).post(password::submit))
        .route("/ui/anomalies", get(anomalies::page))
        .route("/ui/anomalies/resolve", post(anomalies::resolve))
        .route("/ui/orders", get(order_list::page))
        .route("/ui/orders/export", get(order_list::export))
        .route(
            "/ui/orders/new",
            get(order_new::form).post(order_new::submit),
        )
        .route("/ui/customers/lookup", get(order_new::lookup))
        .route("/ui/orders/{id}", get(order_page::page))
        .route("/ui/orders/{id}/act", post(order_page::act))
        .route("/ui/orders/{id}/print", get(print::page))
        .route(
            "/ui/orders/{id}/returns",
            post(returns::request).layer(attachments::files_form_limit()),
        )
        .route("/ui/returns", get(returns::list))
        .route("/ui/delays", get(delays::page))
        .route("/ui/returns/{request}/act", post(returns::act))
        .route("/ui/users", get(users::page).post(users::add))
        .route("/ui/users/change", post(users::change))
        .route("/ui/complaints", get(complaints::list))
        .route(
            "/ui/complaints/new",
            get(complaints::new_form)
                .post(complaints::create)
                .layer(attachments::files_form_limit()),
        )
        .route("/ui/complaints/{id}", get(complaints::page))
        .route("/ui/complaints/{id}/act", post(complaints::act))
        .route("/ui/customers", get(customers::list))
        .route("/ui/customers/compare", get(customer_compare::page))
        .route(
            "/ui/customers/new",
            get(customer_form::new_form).post(customer_form::create_submit),
        )
        .route(
            "/ui/customers/{id}/edit",
            get(customer_form::edit_form).post(customer_form::edit_submit),
        )
        .route("/ui/customers/{id}", get(customers::page))
        .route("/ui/reports", get(reports::page))
        .route("/ui/reports/export", get(reports::export))
        .route("/ui/receivables", get(receivables::page))
        .route("/ui/receivables/remind", post(receivables::remind))
        .route(
            "/ui/receivables/pay",
            get(receivables::pay_form).post(receivables::pay),
        )
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/attachments/{hash}", get(attachments::serve))
        .route(
            "/ui/contracts",
            get(contracts::list)
                .post(contracts::draft)
                .layer(attachments::files_form_limit()),
        )
        .route("/ui/contracts/{id}", get(contracts::page))
        .route(
            "/ui/contracts/{id}/act",
            post(contracts::act).layer(attachments::files_form_limit()),
        )
        .layer(middleware::from_fn(guard_pages))
}

/// Refuses a POST sent from another origin (a browser always names it in `Origin`), then adds
/// the security headers to whatever the page answers.
async fn guard_pages(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_origin(&request) {
        return PageError::Csrf.into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A request without `Origin` (not from a browser, or an old one) is left to the CSRF token.
fn same_origin(request: &Request) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://").map(|(_, rest)| rest));
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

/// What the header and the sync strip of every page show.
pub struct Chrome {
    pub node_name: String,
    pub user_name: String,
    pub role_label: &'static str,
    pub csrf: String,
    pub nav: Vec<NavLink>,
    pub sync: SyncStrip,
    pub css: &'static str,
    pub js: &'static str,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

impl Chrome {
    /// `active`: the href of the nav link for this page.
    pub fn new(state: &AppState, signed: &SignedIn, active: &str) -> Chrome {
        let mut links = vec![
            ("/", "工作台"),
            ("/ui/orders", "订单"),
            ("/ui/anomalies", "异常收件箱"),
            ("/ui/complaints", "客诉"),
        ];
        if signed.user.role.may(crate::domain::role::Action::TakeOrder) {
            links.push(("/ui/orders/new", "新建订单"));
        }
        links.push(("/ui/contracts", "合同"));
        if signed.user.role == crate::domain::role::Role::Admin {
            links.push(("/ui/users", "用户管理"));
        }
        {
            use crate::domain::role::Role::{Clerk, Finance, Supervisor, Vp, Warehouse};
            if signed.user.role != crate::domain::role::Role::Admin {
                links.push(("/ui/customers", "客户"));
            }
            if matches!(signed.user.role, Clerk | Supervisor | Vp) {
                links.push(("/ui/delays", "跟单"));
            }
            if matches!(signed.user.role, Clerk | Supervisor | Vp | Warehouse) {
                links.push(("/ui/returns", "退换货"));
            }
            if matches!(signed.user.role, Clerk | Supervisor | Vp | Finance) {
                links.push(("/ui/receivables", "回款"));
                links.push(("/ui/reports", "报表"));
            }
        }
        links.push(("/ui/password", "修改密码"));
        Chrome {
            node_name: state.office.identity.name.clone(),
            user_name: signed.user.name.clone(),
            role_label: format::role_label(signed.user.role),
            csrf: signed.csrf.clone(),
            nav: links
                .into_iter()
                .map(|(href, label)| NavLink {
                    href,
                    label,
                    active: href == active,
                })
                .collect(),
            sync: SyncStrip::of(
                &state.peers.snapshot(),
                state.workbench.looks_for_peers,
                chrono::Utc::now(),
            ),
            css: assets::stylesheet_path(),
            js: assets::script_path(),
        }
    }
}

/// Why a page could not be shown; the only place the workbench turns errors into responses.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not signed in")]
    SignIn,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("CSRF check failed")]
    Csrf,
    #[error("refused: {0}")]
    Refused(String),
    #[error("internal: {0}")]
    Internal(String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
    css: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::SignIn => return Redirect::to("/ui/login").into_response(),
            PageError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "无权访问",
                "您的角色不能使用这个页面或进行这项操作。".to_string(),
            ),
            PageError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "找不到",
                format!("找不到{what}，它可能还没有同步到本机。"),
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "安全校验失败",
                "表单已过期或不是从本工作台提交的（CSRF 校验失败）。请返回、刷新页面后重试。"
                    .to_string(),
            ),
            PageError::Refused(why) => (StatusCode::CONFLICT, "操作被拒绝", why),
            PageError::Internal(detail) => {
                tracing::error!(%detail, "workbench page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "出错了",
                    "服务器内部错误，已记入日志。请稍后重试。".to_string(),
                )
            }
        };
        let page = ErrorPage {
            title,
            message,
            css: assets::stylesheet_path(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title).into_response(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => PageError::SignIn,
            ApiError::Forbidden(why) => PageError::Forbidden(why),
            ApiError::NotFound(what) => PageError::NotFound(what),
            ApiError::Conflict(rule) => PageError::Refused(format!("违反规则：{rule}")),
            ApiError::Invalid(errors) | ApiError::BadRequest(_, errors) => PageError::Refused(
                errors
                    .iter()
                    .map(|e| format!("{}：{}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("；"),
            ),
            ApiError::PayloadTooLarge => PageError::Refused("提交的内容太大".into()),
            ApiError::UnsupportedMediaType => PageError::Refused("提交的格式不对".into()),
            ApiError::DiskFull => PageError::Refused(
                "磁盘空间不足，本次提交没有保存；释放磁盘空间后会自动恢复，无需重启".into(),
            ),
            ApiError::Damaged(doc) => PageError::Refused(format!(
                "本节点磁盘上的文档 {doc} 已损坏，正在从其他节点重新获取；获取之前无法查看或修改"
            )),
            ApiError::Internal(detail) => PageError::Internal(detail),
        }
    }
}

/// Renders a page template.
pub fn render(page: &impl Template) -> Result<Html<String>, PageError> {
    page.render()
        .map(Html)
        .map_err(|e| PageError::Internal(e.to_string()))
}

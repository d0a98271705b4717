//! The returns list (退/换/维修 by state): the VP's 待审批 and the warehouse's 退货待收 queues.
//! The actions on one return are order routes (`orders.rs`, `/api/returns/{rid}/…`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiQuery, Authed};
use super::{decode_cursor, page_limit, read, AppState};
use crate::domain::returns::{ReturnCase, ReturnState};
use crate::domain::validation::FieldError;
use crate::service::customers::Page;
use crate::service::returns::ReturnQuery;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReturnListParams {
    /// pending (待审批), approved (退货待收), rejected, received or returned_to_customer; every
    /// state when absent.
    #[param(pattern = r"^(pending|approved|rejected|received|returned_to_customer)?$")]
    pub state: Option<String>,
    /// Only this customer's returns.
    pub customer: Option<String>,
    /// Page size, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    #[param(pattern = r"^([0-9a-fA-F]{2})*$")]
    pub cursor: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/returns", get(list))
}

async fn list(
    State(state): State<AppState>,
    Authed(_user): Authed,
    ApiQuery(p): ApiQuery<ReturnListParams>,
) -> Result<Json<Page<ReturnCase>>, ApiError> {
    let return_state = match p.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ReturnState::parse(s).ok_or_else(|| {
            ApiError::Invalid(vec![FieldError {
                field: "state".into(),
                message: format!("unknown state {s:?}"),
            }])
        })?),
    };
    let query = ReturnQuery {
        state: return_state,
        customer: p.customer.filter(|c| !c.is_empty()),
        cursor: decode_cursor(p.cursor.as_deref())?,
        limit: page_limit(p.limit, 1000)?,
    };
    Ok(Json(
        read(&state, move |office| office.list_returns(&query)).await?,
    ))
}

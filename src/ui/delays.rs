//! 跟单 in the workbench: the clerk's 交期预警 (orders still to ship promised within
//! `WARN_DAYS` days or already past, the earliest promise first, from the `order_due` index) and
//! the VP's 上报销售副总 queue (late too long or revised twice, not yet acknowledged). A row opens
//! the order, whose page records a 跟单 note with a revised date, or the VP's acknowledgement.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::format::{money, query_string, status_label};
use super::order_list::Tab;
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::report::business_day;
use crate::domain::role::{Action, Role};
use crate::http::{read, AppState};
use crate::service::delays::LateOrder;
use crate::service::{BackOffice, ServiceError};

/// 交期预警 looks this many days ahead (the "within 3 days").
pub const WARN_DAYS: u64 = 3;
/// Rows a page shows; the tab says how many there are.
const SHOWN: usize = 200;

pub struct DueRow {
    pub href: String,
    pub number: String,
    pub store: String,
    pub salesperson: String,
    pub status: &'static str,
    pub gross: String,
    pub promised: String,
    pub revisions: usize,
    /// 逾期 N 天 / 今天到期 / 还有 N 天.
    pub when: String,
    pub late: bool,
    /// 待副总确认, 副总已确认, or empty.
    pub escalation: &'static str,
}

impl DueRow {
    fn of(late: LateOrder) -> DueRow {
        let when = match late.days_late {
            d if d > 0 => format!("逾期 {d} 天"),
            0 => "今天到期".to_string(),
            d => format!("还有 {} 天", -d),
        };
        DueRow {
            href: format!("/ui/orders/{}", late.order.id),
            number: late.order.number,
            store: late.order.store,
            salesperson: late.order.salesperson,
            status: status_label(late.order.status),
            gross: money(late.order.gross),
            promised: late.promised_date.to_string(),
            revisions: late.revisions,
            when,
            late: late.days_late > 0,
            escalation: match (late.escalated, late.acknowledged) {
                (true, false) => "待副总确认",
                (_, true) => "副总已确认",
                _ => "",
            },
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    tab: String,
}

#[derive(Template)]
#[template(path = "delays.html")]
struct DelaysPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<DueRow>,
    /// How many the tab holds when more than the rows shown.
    more: String,
    today: String,
}

/// `GET /ui/delays[?tab=soon|vp]`: the VP starts on the VP's queue, everyone else on 交期预警.
pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<Params>,
) -> Result<Html<String>, PageError> {
    let vp_tab = match p.tab.as_str() {
        "vp" => true,
        "soon" => false,
        _ => signed.user.role == Role::Vp,
    };
    let today = business_day(chrono::Utc::now());
    let (rows, total) = read(&state, move |o| {
        if vp_tab {
            o.vp_delay_queue(today, SHOWN)
        } else {
            o.orders_due_by(today + chrono::Days::new(WARN_DAYS), today, SHOWN)
        }
    })
    .await?;
    let shown = rows.len();
    render(&DelaysPage {
        chrome: Chrome::new(&state, &signed, "/ui/delays"),
        tabs: [
            ("soon", "交期预警", !vp_tab),
            ("vp", "上报销售副总", vp_tab),
        ]
        .into_iter()
        .map(|(tab, label, active)| Tab {
            label,
            count: if active {
                total.to_string()
            } else {
                String::new()
            },
            href: format!("/ui/delays{}", query_string(&[("tab", tab)])),
            active,
        })
        .collect(),
        rows: rows.into_iter().map(DueRow::of).collect(),
        more: if total > shown {
            format!("共 {total} 个订单，按交期先后显示前 {shown} 个")
        } else {
            String::new()
        },
        today: today.to_string(),
    })
}

/// 跟单 on the home page: the clerk's 交期预警 and the VP's 延误待确认, each linking here.
pub fn home_queues(
    office: &BackOffice,
    role: Role,
    cap: usize,
) -> Result<Vec<super::home::QueueCount>, ServiceError> {
    let today = business_day(chrono::Utc::now());
    let (label, tab, n) = if role.may(Action::AcknowledgeDelay) {
        ("延误待确认", "vp", office.vp_delay_queue(today, 0)?.1)
    } else if role.may(Action::Progress) {
        let (_, n) = office.orders_due_by(today + chrono::Days::new(WARN_DAYS), today, 0)?;
        ("交期预警", "soon", n)
    } else {
        return Ok(Vec::new());
    };
    Ok(vec![super::home::QueueCount::capped(
        label,
        n,
        cap,
        format!("/ui/delays{}", query_string(&[("tab", tab)])),
    )])
}

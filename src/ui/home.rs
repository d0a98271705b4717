//! 工作台: the home page, one set of queues per role, each a count linking to the filtered order
//! list (and, for the clerk and the supervisor, to the complaints, 客诉). The queues are one table (`QUEUES`); a queue names its status by the status's name, so
//! a status added to `Status::ALL` slots in by adding a row, and a row naming a status this
//! build does not have is left out rather than shown wrong.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::format::{query_string, status_label};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::order::Status;
use crate::domain::role::Role;
use crate::http::{read, AppState};
use crate::service::orders::OrderQuery;
use crate::service::{BackOffice, ServiceError};

/// Counting stops here: one page of the list, so the home page never walks every order.
pub const COUNT_CAP: usize = 500;

/// Which orders a queue holds.
#[derive(Debug, Clone, Copy)]
pub enum QueueFilter {
    /// Orders in the status of this name (`Status::as_str`).
    Status(&'static str),
    /// Orders with an open anomaly; the count links to the 异常收件箱.
    Anomalies,
}

/// One queue of the home page: who sees it, its name, which orders.
pub struct QueueDef {
    pub roles: &'static [Role],
    pub label: &'static str,
    pub filter: QueueFilter,
}

use crate::domain::role::Role::{Clerk, Finance, Supervisor, Vp, Warehouse};

/// Every role's queues, in the order they are shown: each status is the queue of the role that
/// moves an order out of it (`Status` says which).
pub const QUEUES: &[QueueDef] = &[
    QueueDef {
        roles: &[Clerk],
        label: "待核单",
        filter: QueueFilter::Status("taken"),
    },
    QueueDef {
        roles: &[Supervisor],
        label: "待审核",
        filter: QueueFilter::Status("verified"),
    },
    QueueDef {
        roles: &[Clerk],
        label: "待下单",
        filter: QueueFilter::Status("approved"),
    },
    QueueDef {
        roles: &[Clerk],
        label: "生产中（待开出货单）",
        filter: QueueFilter::Status("in_production"),
    },
    QueueDef {
        roles: &[Finance],
        label: "待放行",
        filter: QueueFilter::Status("awaiting_release"),
    },
    QueueDef {
        roles: &[Warehouse],
        label: "待发货",
        filter: QueueFilter::Status("released"),
    },
    QueueDef {
        roles: &[Clerk, Warehouse],
        label: "部分发货",
        filter: QueueFilter::Status("partially_shipped"),
    },
    QueueDef {
        roles: &[Clerk, Finance],
        label: "待开票",
        filter: QueueFilter::Status("shipped"),
    },
    QueueDef {
        roles: &[Clerk],
        label: "待归档",
        filter: QueueFilter::Status("paid"),
    },
    QueueDef {
        roles: &[Vp],
        label: "已取消",
        filter: QueueFilter::Status("cancelled"),
    },
    QueueDef {
        roles: &[Clerk, Supervisor, Vp, Warehouse, Finance],
        label: "有异常的订单",
        filter: QueueFilter::Anomalies,
    },
];

pub struct QueueCount {
    pub label: String,
    pub count: String,
    pub href: String,
}

impl QueueCount {
    /// A queue counted up to `cap`: at the cap it shows `cap+`.
    pub fn capped(label: &str, n: usize, cap: usize, href: String) -> QueueCount {
        QueueCount {
            label: label.into(),
            count: if n >= cap {
                format!("{cap}+")
            } else {
                n.to_string()
            },
            href,
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    queues: Vec<QueueCount>,
    overview: Vec<QueueCount>,
    count_cap: usize,
}

/// The list query and link of a queue; None when it names a status this build does not have.
fn queue_query(filter: QueueFilter) -> Option<(OrderQuery, String)> {
    let mut query = OrderQuery {
        limit: COUNT_CAP,
        ..OrderQuery::default()
    };
    let href = match filter {
        QueueFilter::Status(name) => {
            query.status = Some(Status::parse(name)?);
            format!("/ui/orders{}", query_string(&[("status", name)]))
        }
        QueueFilter::Anomalies => {
            query.anomalies_only = true;
            "/ui/anomalies".to_string()
        }
    };
    Some((query, href))
}

fn count(office: &BackOffice, query: &OrderQuery) -> Result<String, ServiceError> {
    let page = office.list_orders(query)?;
    Ok(match page.next_cursor {
        Some(_) => format!("{}+", page.items.len()),
        None => page.items.len().to_string(),
    })
}

/// Finance's 重复或可疑收款: the open anomalies on payments (the same bank transfer entered
/// twice, more received than the order is worth), linking to finance's inbox.
fn payment_anomaly_queue(office: &BackOffice, role: Role) -> Result<Vec<QueueCount>, ServiceError> {
    use crate::domain::anomaly::AnomalyKind::{DuplicateBankRef, OverPaid};
    if role != Finance {
        return Ok(Vec::new());
    }
    let n = office
        .anomalies(COUNT_CAP)?
        .iter()
        .filter(|a| matches!(a.anomaly.kind, DuplicateBankRef | OverPaid))
        .count();
    Ok(vec![QueueCount::capped(
        "重复或可疑收款",
        n,
        COUNT_CAP,
        "/ui/anomalies".into(),
    )])
}

/// 合同超额 for the clerk and the supervisor: contracts their orders exceed after a merge
/// (from the contract tallies), linking to the inbox that says how to resolve each.
fn contract_exceeded_queue(
    office: &BackOffice,
    role: Role,
) -> Result<Vec<QueueCount>, ServiceError> {
    if !matches!(role, Clerk | Supervisor) {
        return Ok(Vec::new());
    }
    let n = office.contract_exceeded_anomalies()?.len();
    Ok(vec![QueueCount {
        label: "合同超额".into(),
        count: n.to_string(),
        href: "/ui/anomalies".into(),
    }])
}

/// 客诉: the clerk's open complaints, the supervisor's escalated ones (上报主管).
fn complaint_queues(office: &BackOffice, role: Role) -> Result<Vec<QueueCount>, ServiceError> {
    let (label, href, open) = match role {
        Clerk => ("客诉处理中", "/ui/complaints?state=open", true),
        Supervisor => ("客诉上报主管", "/ui/complaints?state=escalated", false),
        _ => return Ok(Vec::new()),
    };
    let today = crate::domain::report::business_day(chrono::Utc::now());
    let (open_count, escalated) = office.complaint_counts(today, COUNT_CAP)?;
    let n = if open { open_count } else { escalated };
    Ok(vec![QueueCount {
        label: label.into(),
        count: if open_count >= COUNT_CAP {
            format!("{n}+")
        } else {
            n.to_string()
        },
        href: href.into(),
    }])
}

/// 回款: the clerk's 回款跟踪 and finance's 回款登记, each the orders owing money on goods
/// shipped (from the receivables tallies), linking to the 回款 pages.
fn receivable_queues(office: &BackOffice, role: Role) -> Result<Vec<QueueCount>, ServiceError> {
    let (label, href) = match role {
        Clerk => ("回款跟踪", "/ui/receivables#reminders"),
        Finance => ("回款登记", "/ui/receivables/pay"),
        _ => return Ok(Vec::new()),
    };
    let today = crate::domain::report::business_day(chrono::Utc::now());
    let counts = office.receivable_counts(today)?;
    Ok(vec![QueueCount {
        label: label.into(),
        count: counts.owing.to_string(),
        href: href.into(),
    }])
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, PageError> {
    let role = signed.user.role;
    let mine: Vec<(String, OrderQuery, String)> = QUEUES
        .iter()
        .filter(|q| q.roles.contains(&role))
        .filter_map(|q| queue_query(q.filter).map(|(query, href)| (q.label.into(), query, href)))
        .collect();
    // The admin (and only they: it costs a list per status) sees every status's count.
    let overview: Vec<(String, OrderQuery, String)> = if role == Role::Admin {
        Status::ALL
            .into_iter()
            .filter_map(|s| {
                queue_query(QueueFilter::Status(s.as_str()))
                    .map(|(query, href)| (status_label(s).to_string(), query, href))
            })
            .collect()
    } else {
        Vec::new()
    };
    let (queues, overview) = read(&state, move |office| {
        let counted = |defs: Vec<(String, OrderQuery, String)>| {
            defs.into_iter()
                .map(|(label, query, href)| {
                    Ok(QueueCount {
                        label,
                        count: count(office, &query)?,
                        href,
                    })
                })
                .collect::<Result<Vec<_>, ServiceError>>()
        };
        let mut queues = counted(mine)?;
        queues.extend(complaint_queues(office, role)?);
        queues.extend(super::contracts::home_queues(office, role, COUNT_CAP)?);
        queues.extend(receivable_queues(office, role)?);
        queues.extend(super::returns::home_queues(office, role, COUNT_CAP)?);
        queues.extend(super::delays::home_queues(office, role, COUNT_CAP)?);
        queues.extend(payment_anomaly_queue(office, role)?);
        queues.extend(contract_exceeded_queue(office, role)?);
        Ok((queues, counted(overview)?))
    })
    .await?;
    render(&HomePage {
        chrome: Chrome::new(&state, &signed, "/"),
        queues,
        overview,
        count_cap: COUNT_CAP,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_names_a_status_this_build_has() {
        for queue in QUEUES {
            assert!(
                queue_query(queue.filter).is_some(),
                "{} names an unknown status",
                queue.label
            );
        }
    }

    #[test]
    fn every_business_role_has_a_queue() {
        for role in [Clerk, Supervisor, Vp, Warehouse, Finance] {
            assert!(QUEUES.iter().any(|q| q.roles.contains(&role)), "{role}");
        }
    }

    #[test]
    fn an_unknown_status_leaves_its_queue_out() {
        assert!(queue_query(QueueFilter::Status("no_such_status")).is_none());
    }
}

//! Contradictions a merge can reveal (DOMAIN.md's table), derived from an order's facts alone.
//!
//! Detection is a pure function of the merged document, so every node that holds the same
//! changes finds the same anomalies with the same ids, whichever node merged first. Resolving one
//! is a new fact (`AnomalyResolved`) naming the anomaly id.

use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

use super::facts::FactBody;
use super::order::Order;
use super::role::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    ShippedWhileCancelled,
    ShippedWithoutRelease,
    StaleRelease,
    OverShipped,
    DuplicateBankRef,
    OverPaid,
    ReturnWithoutApproval,
    InvoiceTitleMismatch,
    FieldConflict,
    DuplicateCustomer,
    DuplicateInvoiceNumber,
    /// A shipment under a release that lists other lines or smaller quantities.
    ShippedBeyondRelease,
    /// More invoiced than the order's total (two finance nodes apart).
    OverInvoiced,
    /// More asked back on a line than shipped (two return requests made apart).
    OverReturned,
    /// 越权或伪造的记录: a fact that does not count (unsigned, forged, by a revoked node, or
    /// beyond what its node's certificate allows).
    UnauthorizedFact,
    /// 文档已损坏: this node's copy of a document fails its checksum or does not load; it is
    /// fetched again whole from a peer that has it.
    DamagedDocument,
    /// 未经授权的字段修改: a value of a verified order or of a customer archive that no counted
    /// fact vouches for (written without an authorised node's signature, `domain::attest`).
    UnattestedValue,
    /// 合同超额: the orders under a contract that count add up to more than its amount in
    /// force (each taken within what remained, on two nodes apart).
    ContractExceeded,
}

impl AnomalyKind {
    /// Who must resolve it (DOMAIN.md).
    pub fn resolvers(self) -> &'static [Role] {
        match self {
            AnomalyKind::ShippedWhileCancelled => &[Role::Vp],
            AnomalyKind::ShippedWithoutRelease => &[Role::Finance, Role::Clerk],
            AnomalyKind::StaleRelease => &[Role::Finance],
            AnomalyKind::OverShipped => &[Role::Warehouse, Role::Clerk],
            AnomalyKind::DuplicateBankRef => &[Role::Finance],
            AnomalyKind::OverPaid => &[Role::Finance],
            AnomalyKind::ReturnWithoutApproval => &[Role::Vp],
            AnomalyKind::InvoiceTitleMismatch => &[Role::Finance],
            AnomalyKind::FieldConflict => &[Role::Clerk, Role::Supervisor],
            AnomalyKind::DuplicateCustomer => &[Role::Clerk],
            AnomalyKind::DuplicateInvoiceNumber => &[Role::Finance],
            AnomalyKind::ShippedBeyondRelease => &[Role::Finance, Role::Warehouse],
            AnomalyKind::OverInvoiced => &[Role::Finance],
            AnomalyKind::OverReturned => &[Role::Vp],
            AnomalyKind::UnauthorizedFact => &[Role::Supervisor, Role::Vp],
            AnomalyKind::DamagedDocument => &[Role::Admin],
            AnomalyKind::UnattestedValue => &[Role::Clerk],
            AnomalyKind::ContractExceeded => &[Role::Clerk, Role::Supervisor],
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            AnomalyKind::ShippedWhileCancelled => "shipped-while-cancelled",
            AnomalyKind::ShippedWithoutRelease => "shipped-without-release",
            AnomalyKind::StaleRelease => "stale-release",
            AnomalyKind::OverShipped => "over-shipped",
            AnomalyKind::DuplicateBankRef => "duplicate-bank-ref",
            AnomalyKind::OverPaid => "over-paid",
            AnomalyKind::ReturnWithoutApproval => "return-without-approval",
            AnomalyKind::InvoiceTitleMismatch => "invoice-title",
            AnomalyKind::FieldConflict => "conflict",
            AnomalyKind::DuplicateCustomer => "duplicate-customer",
            AnomalyKind::DuplicateInvoiceNumber => "duplicate-invoice-number",
            AnomalyKind::ShippedBeyondRelease => "shipped-beyond-release",
            AnomalyKind::OverInvoiced => "over-invoiced",
            AnomalyKind::OverReturned => "over-returned",
            AnomalyKind::UnauthorizedFact => "unauthorized-fact",
            AnomalyKind::DamagedDocument => "damaged-document",
            AnomalyKind::UnattestedValue => "unattested-value",
            AnomalyKind::ContractExceeded => "contract-exceeded",
        }
    }

    /// Contradictions that only a fact removes, never a text: a duplicate payment keeps
    /// counting twice until one is voided. Returns what removes it (Chinese, English).
    pub fn removed_only_by(self) -> Option<(&'static str, &'static str)> {
        match self {
            AnomalyKind::DuplicateBankRef => Some((
                "财务须作废重复的一笔收款",
                "finance voids one of the payments",
            )),
            AnomalyKind::DuplicateInvoiceNumber => Some((
                "财务须红冲其中一张发票",
                "finance voids (红冲) one of the invoices",
            )),
            AnomalyKind::FieldConflict => Some((
                "由字段负责角色在冲突值中选定一个",
                "the field's owner picks one of the values (conflicts/{field}/resolve)",
            )),
            AnomalyKind::DuplicateCustomer => Some((
                "内勤须合并重复的客户档案",
                "a clerk merges the archives (resolve with keep)",
            )),
            AnomalyKind::OverInvoiced => Some((
                "财务须红冲多开的发票",
                "finance voids (红冲) the invoice that goes over the total",
            )),
            AnomalyKind::OverReturned => Some((
                "销售副总须驳回多余的退货申请",
                "the VP rejects the return request that goes over what shipped",
            )),
            AnomalyKind::DamagedDocument => Some((
                "与其他节点同步取回完好的副本，或从备份恢复（neiqin restore）",
                "a peer's whole copy replaces it at the next sync, or a restore does",
            )),
            AnomalyKind::InvoiceTitleMismatch => Some((
                "财务须红冲抬头不符的发票并重开",
                "finance voids (红冲) the invoice and issues it again",
            )),
            AnomalyKind::UnattestedValue => Some((
                "内勤须重新录入该值（改正或确认；订单核单后为变更单），由本节点签名",
                "a clerk writes the value again (corrected or confirmed; a change order once \
                 the order is verified), which signs it",
            )),
            AnomalyKind::ContractExceeded => Some((
                "须取消或减少其中的订单（变更单），或修改合同提高金额并经审核、审批、签订",
                "cancel or lower an order (change order), or sign a new version of the contract \
                 raising its amount",
            )),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Anomaly {
    /// Stable across nodes: kind plus the facts or field involved.
    pub id: String,
    pub kind: AnomalyKind,
    pub detail: String,
    pub resolvers: Vec<Role>,
    /// The resolution, once someone recorded one.
    pub resolution: Option<String>,
}

fn anomaly(kind: AnomalyKind, id: String, detail: String) -> Anomaly {
    Anomaly {
        id,
        kind,
        detail,
        resolvers: kind.resolvers().to_vec(),
        resolution: None,
    }
}

/// 越权或伪造的记录: one anomaly per refused fact of any document (order, complaint…).
pub fn unauthorized(refused: &[(super::facts::Fact, String)]) -> Vec<Anomaly> {
    refused
        .iter()
        .map(|(fact, why)| {
            let kind = serde_json::to_value(&fact.body)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .unwrap_or_default();
            anomaly(
                AnomalyKind::UnauthorizedFact,
                format!("unauthorized-fact:{}", fact.id),
                format!(
                    "越权或伪造的记录 / a record that does not count: {kind} by {} ({}) on node {} \
                     at {}: {why}",
                    fact.user, fact.role, fact.node, fact.at
                ),
            )
        })
        .collect()
}

/// 未经授权的字段修改: one anomaly per value of `document` (`订单 <number>`, `客户 <name>`) that
/// no counted fact vouches for. The id names the path and the value's hash, so every node
/// holding the same changes finds the same one.
pub fn unattested(document: &str, values: &[super::attest::Unattested]) -> Vec<Anomaly> {
    values
        .iter()
        .map(|u| {
            let what = if u.value.is_empty() && u.path.matches('.').count() == 1 {
                "removed without a signed record".to_string()
            } else {
                format!("= {:?}", u.value)
            };
            anomaly(
                AnomalyKind::UnattestedValue,
                format!(
                    "unattested-value:{}:{}",
                    u.path,
                    super::attest::value_hash(&u.path, &u.value)
                ),
                format!(
                    "未经授权的字段修改 / a value no authorised node signed: {document} {} {what} \
                     (kept as evidence; not released or shipped until a clerk writes it again)",
                    u.path
                ),
            )
        })
        .collect()
}

/// Every contradiction in the order, resolved ones included (with their resolution).
pub fn detect(order: &Order) -> Vec<Anomaly> {
    let mut found = unauthorized(&order.refused_facts);
    found.extend(unattested(
        &format!("订单 {}", order.get("number")),
        &order.unattested,
    ));
    let shipments: Vec<_> = order
        .facts
        .iter()
        .filter_map(|f| match &f.body {
            FactBody::Shipment { releases_seen, .. } => Some((f, releases_seen)),
            _ => None,
        })
        .collect();

    if let Some(cancelled) = order.remainder_cancelled() {
        let late: Vec<&str> = shipments
            .iter()
            .filter(|(f, _)| f.sort_key() > cancelled.sort_key())
            .map(|(f, _)| f.id.as_str())
            .collect();
        if !late.is_empty() {
            found.push(anomaly(
                AnomalyKind::ShippedWhileCancelled,
                format!("shipped-after-rest-cancelled:{}", late.join("+")),
                format!(
                    "the rest of the order was cancelled but {} shipment(s) were recorded after it",
                    late.len()
                ),
            ));
        }
    }

    // Shipments under a release whose shipping document does not cover them.
    for (shipment, _) in &shipments {
        let FactBody::Shipment {
            lines,
            release: Some(release),
            ..
        } = &shipment.body
        else {
            continue;
        };
        let doc_lines = order.facts.iter().find_map(|f| match &f.body {
            FactBody::FinanceRelease { shipping_doc, .. } if f.id == *release => {
                order.facts.iter().find_map(|d| match &d.body {
                    FactBody::ShippingDoc { lines, .. } if d.id == *shipping_doc => Some(lines),
                    _ => None,
                })
            }
            _ => None,
        });
        let shipped_under = order.shipped_under(release);
        let beyond = match doc_lines {
            None => true,
            Some(doc) => lines.iter().any(|l| {
                let allowed: Decimal = doc
                    .iter()
                    .filter(|d| d.line == l.line)
                    .map(|d| d.quantity)
                    .sum();
                shipped_under.get(&l.line).copied().unwrap_or_default() > allowed
            }),
        };
        if beyond {
            found.push(anomaly(
                AnomalyKind::ShippedBeyondRelease,
                format!("shipped-beyond-release:{}", shipment.id),
                format!(
                    "shipment {} by {} on node {} ships lines or quantities its release did not cover",
                    shipment.id, shipment.user, shipment.node
                ),
            ));
        }
    }

    if order.is_cancelled() && !shipments.is_empty() {
        let ids: Vec<&str> = shipments.iter().map(|(f, _)| f.id.as_str()).collect();
        found.push(anomaly(
            AnomalyKind::ShippedWhileCancelled,
            format!("shipped-while-cancelled:{}", ids.join("+")),
            format!(
                "order is cancelled but {} shipment(s) were recorded",
                ids.len()
            ),
        ));
    }

    for (shipment, releases_seen) in &shipments {
        if releases_seen.is_empty() {
            found.push(anomaly(
                AnomalyKind::ShippedWithoutRelease,
                format!("shipped-without-release:{}", shipment.id),
                format!(
                    "shipment {} by {} on node {} was made without a finance release that node had seen",
                    shipment.id, shipment.user, shipment.node
                ),
            ));
        }
    }

    // A shipment made under a release of an older shipping document, while a newer version
    // (changed prices or quantities) already existed on another node, and no release covers it.
    let docs = order.shipping_docs();
    let releases = order.releases();
    for (shipment, releases_seen) in &shipments {
        let released_docs: Vec<&str> = releases
            .iter()
            .filter(|(f, _)| releases_seen.contains(&f.id))
            .map(|(_, doc)| *doc)
            .collect();
        if released_docs.is_empty() {
            continue;
        }
        let newer_unreleased = docs.iter().rev().find(|d| {
            d.sort_key() <= shipment.sort_key()
                && !released_docs.contains(&d.id.as_str())
                && docs
                    .iter()
                    .position(|x| x.id == d.id)
                    .zip(
                        released_docs
                            .iter()
                            .filter_map(|r| docs.iter().position(|x| x.id == *r))
                            .max(),
                    )
                    .is_some_and(|(newer, released)| newer > released)
                && !releases.iter().any(|(_, doc)| *doc == d.id)
        });
        if let Some(newer) = newer_unreleased {
            let version = docs.iter().position(|x| x.id == newer.id).unwrap_or(0) + 1;
            found.push(anomaly(
                AnomalyKind::StaleRelease,
                format!("stale-release:{}:{}", shipment.id, newer.id),
                format!(
                    "shipment {} went out under a release of an older shipping document; version {version} ({}) was never released",
                    shipment.id, newer.id
                ),
            ));
        }
    }

    for line in &order.lines {
        if line.shipped > line.quantity {
            found.push(anomaly(
                AnomalyKind::OverShipped,
                format!("over-shipped:{}:{}", line.id, line.shipped),
                format!(
                    "line {} ({}) shipped {} of {} ordered",
                    line.id, line.sku, line.shipped, line.quantity
                ),
            ));
        }
    }

    let mut by_ref: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for payment in order.live_payments() {
        if let FactBody::Payment { bank_ref, .. } = &payment.body {
            if !bank_ref.is_empty() {
                by_ref.entry(bank_ref).or_default().push(&payment.id);
            }
        }
    }
    for (bank_ref, ids) in by_ref.into_iter().filter(|(_, ids)| ids.len() > 1) {
        found.push(anomaly(
            AnomalyKind::DuplicateBankRef,
            format!("duplicate-bank-ref:{bank_ref}"),
            format!(
                "bank reference {bank_ref} recorded {} times (payments {})",
                ids.len(),
                ids.join(", ")
            ),
        ));
    }

    let gross = order.due_total();
    let paid = order.paid();
    if paid > gross && gross > Decimal::ZERO {
        found.push(anomaly(
            AnomalyKind::OverPaid,
            format!("over-paid:{paid}"),
            format!("paid {paid} against an order total of {gross}"),
        ));
    }

    for receipt in &order.facts {
        if let FactBody::ReturnReceived { request, .. } = &receipt.body {
            let approved = order.facts.iter().any(|f| {
                matches!(&f.body, FactBody::ReturnDecided { request: r, approved: true, .. } if r == request)
            });
            if !approved {
                found.push(anomaly(
                    AnomalyKind::ReturnWithoutApproval,
                    format!("return-without-approval:{}", receipt.id),
                    format!("return {request} was received without the VP's approval"),
                ));
            }
        }
    }

    let invoiced = order.invoiced();
    if invoiced > gross {
        found.push(anomaly(
            AnomalyKind::OverInvoiced,
            format!("over-invoiced:{invoiced}"),
            format!("invoiced {invoiced} against an order total of {gross}"),
        ));
    }

    let asked_back = order.requested_back();
    for line in &order.lines {
        let back = asked_back.get(&line.id).copied().unwrap_or_default();
        if back > line.shipped {
            found.push(anomaly(
                AnomalyKind::OverReturned,
                format!("over-returned:{}:{back}", line.id),
                format!(
                    "line {} ({}) has {back} asked back of {} shipped",
                    line.id, line.sku, line.shipped
                ),
            ));
        }
    }

    let mut by_number: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for invoice in order.live_invoices() {
        if let FactBody::Invoice { number, .. } = &invoice.body {
            by_number
                .entry(number.trim())
                .or_default()
                .push(&invoice.id);
        }
    }
    for (number, ids) in by_number.into_iter().filter(|(_, ids)| ids.len() > 1) {
        found.push(anomaly(
            AnomalyKind::DuplicateInvoiceNumber,
            format!("duplicate-invoice-number:{number}"),
            format!(
                "invoice number {number} recorded {} times (invoices {})",
                ids.len(),
                ids.join(", ")
            ),
        ));
    }

    let verified_title = order.get("invoice_title");
    for invoice in order.live_invoices() {
        if let FactBody::Invoice { title, number, .. } = &invoice.body {
            if !verified_title.trim().is_empty() && title.trim() != verified_title.trim() {
                found.push(anomaly(
                    AnomalyKind::InvoiceTitleMismatch,
                    format!("invoice-title:{}", invoice.id),
                    format!("invoice {number} is titled {title:?} but the verified title is {verified_title:?}"),
                ));
            }
        }
    }

    for conflict in &order.conflicts {
        let values: Vec<&str> = conflict.values.iter().map(|v| v.value.as_str()).collect();
        found.push(anomaly(
            AnomalyKind::FieldConflict,
            format!("conflict:{}", conflict.field),
            format!(
                "{} has different values on different nodes: {}",
                conflict.field,
                values.join(" / ")
            ),
        ));
    }

    with_resolutions(found, &order.facts)
}

/// The anomalies found on a document, each with the resolution its facts record, if any.
pub fn with_resolutions(mut found: Vec<Anomaly>, facts: &[super::facts::Fact]) -> Vec<Anomaly> {
    let resolutions: BTreeMap<&str, &str> = facts
        .iter()
        .filter_map(|f| match &f.body {
            FactBody::AnomalyResolved {
                anomaly,
                resolution,
            } => Some((anomaly.as_str(), resolution.as_str())),
            _ => None,
        })
        .collect();
    for a in &mut found {
        a.resolution = resolutions.get(a.id.as_str()).map(|r| r.to_string());
    }
    found
}

/// Anomalies still waiting for a person.
pub fn open(order: &Order) -> Vec<Anomaly> {
    detect(order)
        .into_iter()
        .filter(|a| a.resolution.is_none())
        .collect()
}

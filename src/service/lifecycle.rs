//! The order lifecycle as facts: each step is a new fact on the order, checked against the rules
//! on what this node knows. Physical facts (shipments, returns received) are refused only when
//! impossible on their face, never for a missing approval: that becomes an anomaly instead.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

use super::orders::OrderView;
use super::{BackOffice, ServiceError, User};
use crate::domain::anomaly;
use crate::domain::facts::{Disposition, FactBody, Party, ReturnKind, ShipLine};
use crate::domain::money::scale_of;
use crate::domain::order::{validate_amount, Order, Status, ORDER_KIND, QUANTITY_SCALE};
use crate::domain::record::RecordOp;
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::views;

fn rule(message: impl Into<String>) -> ServiceError {
    ServiceError::Rule(message.into())
}

/// Checks that every line exists on the order and every quantity is positive.
fn check_lines(order: &Order, lines: &[ShipLine]) -> Result<(), ServiceError> {
    let mut errors = FieldErrors::default();
    if lines.is_empty() {
        errors.push("lines", "at least one line");
    }
    for (i, l) in lines.iter().enumerate() {
        if !order.lines.iter().any(|ol| ol.id == l.line) {
            errors.push(format!("lines[{i}].line"), "no such line on this order");
        }
        if l.quantity <= Decimal::ZERO {
            errors.push(format!("lines[{i}].quantity"), "must be greater than zero");
        }
        if scale_of(l.quantity) > QUANTITY_SCALE {
            errors.push(format!("lines[{i}].quantity"), "at most 3 decimal places");
        }
        if let Some(price) = l.unit_price {
            if price < Decimal::ZERO || scale_of(price) > 4 {
                errors.push(
                    format!("lines[{i}].unit_price"),
                    "a non-negative price with at most 4 decimals",
                );
            }
        }
    }
    Ok(errors.into_result()?)
}

/// A stable public id for an anomaly: the order id and a digest of its local id.
pub fn public_anomaly_id(order_id: &str, local_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(local_id.as_bytes());
    format!("{order_id}-{}", hex::encode(&digest[..6]))
}

/// An anomaly as the inbox lists it, with its order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InboxAnomaly {
    /// The id to resolve it by.
    pub id: String,
    /// The order it is about, or None for duplicate customers.
    pub order_id: Option<String>,
    pub order_number: Option<String>,
    /// The customer archives it is about (duplicate customers).
    pub customers: Vec<String>,
    pub anomaly: anomaly::Anomaly,
}

impl BackOffice {
    /// Appends one fact built from the current order; `build` refuses when a rule is broken.
    pub fn record_fact(
        &self,
        user: &User,
        order_id: &str,
        action: Action,
        what: &str,
        build: impl FnOnce(&Order) -> Result<FactBody, ServiceError>,
    ) -> Result<OrderView, ServiceError> {
        user.require(action)?;
        append_fact(self, user, order_id, what, build)
    }

    pub fn verify(
        &self,
        user: &User,
        id: &str,
        parties: Vec<Party>,
        checked: BTreeMap<String, bool>,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Verify, "verify (核单)", |order| {
            if parties.is_empty() {
                return Err(FieldErrors::single(
                    "parties",
                    "name at least one party who confirmed",
                )
                .into());
            }
            if order.is_cancelled() {
                return Err(rule("a cancelled order cannot be verified"));
            }
            Ok(FactBody::Verified { parties, checked })
        })
    }

    pub fn approve(&self, user: &User, id: &str, note: String) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Approve, "approve (审核)", |order| {
            if order.is_cancelled() {
                return Err(rule("a cancelled order cannot be approved"));
            }
            Ok(FactBody::Approved { note })
        })
    }

    pub fn release_to_workshop(&self, user: &User, id: &str) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::ReleaseToWorkshop,
            "release to workshop (下单)",
            |order| {
                if order.is_cancelled() {
                    return Err(rule("a cancelled order cannot be released to the workshop"));
                }
                if order.verified_on().is_none() {
                    return Err(rule(
                        "an order must be verified (核单) before it is released to the workshop",
                    ));
                }
                Ok(FactBody::ReleasedToWorkshop)
            },
        )
    }

    pub fn progress(
        &self,
        user: &User,
        id: &str,
        note: String,
        revised_date: Option<NaiveDate>,
        delay_reason: Option<String>,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::Progress,
            "production note (跟单)",
            |_| {
                if note.trim().is_empty() {
                    return Err(FieldErrors::single("note", "must not be empty").into());
                }
                Ok(FactBody::Progress {
                    note,
                    revised_date,
                    delay_reason,
                })
            },
        )
    }

    pub fn shipping_doc(
        &self,
        user: &User,
        id: &str,
        lines: Vec<ShipLine>,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::ShippingDoc,
            "shipping document (出货单)",
            |order| {
                check_lines(order, &lines)?;
                if order.is_cancelled() {
                    return Err(rule("no shipping document for a cancelled order"));
                }
                Ok(FactBody::ShippingDoc { lines })
            },
        )
    }

    /// Releases one shipping-document version (the latest when none is named).
    pub fn finance_release(
        &self,
        user: &User,
        id: &str,
        shipping_doc: Option<String>,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::FinanceRelease, "finance release (财务放行)", |order| {
            let docs = order.shipping_docs();
            let target = match &shipping_doc {
                Some(doc) => docs
                    .iter()
                    .find(|f| &f.id == doc)
                    .ok_or_else(|| rule(format!("cannot release shipping document {doc}: it does not exist on this order")))?,
                None => docs
                    .last()
                    .ok_or_else(|| rule("cannot release: the order has no shipping document"))?,
            };
            Ok(FactBody::FinanceRelease {
                shipping_doc: target.id.clone(),
            })
        })
    }

    /// Records a shipment. `already_left`: the goods are gone and this only records it, so the
    /// missing-release and cancelled rules give way (the contradiction becomes an anomaly).
    #[allow(clippy::too_many_arguments)]
    pub fn ship(
        &self,
        user: &User,
        id: &str,
        lines: Vec<ShipLine>,
        carrier: String,
        waybill: String,
        cartons: u32,
        already_left: bool,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Ship, "shipment (发货)", |order| {
            check_lines(order, &lines)?;
            let releases: Vec<String> = order.releases().iter().map(|(f, _)| f.id.clone()).collect();
            if releases.is_empty() && !already_left {
                return Err(rule("cannot ship without a finance release (财务放行) known to this node"));
            }
            if order.is_cancelled() && !already_left {
                return Err(rule("cannot ship a cancelled order"));
            }
            let mut adding: BTreeMap<&str, Decimal> = BTreeMap::new();
            for l in &lines {
                *adding.entry(l.line.as_str()).or_default() += l.quantity;
            }
            for line in &order.lines {
                let more = adding.get(line.id.as_str()).copied().unwrap_or_default();
                if line.shipped + more > line.quantity {
                    return Err(rule(format!(
                        "cannot ship more than ordered on line {} ({}): ordered {}, shipped {}, shipping {}",
                        line.id, line.sku, line.quantity, line.shipped, more
                    )));
                }
            }
            Ok(FactBody::Shipment {
                lines: lines.into_iter().map(|l| ShipLine { unit_price: None, ..l }).collect(),
                carrier,
                waybill,
                cartons,
                releases_seen: releases,
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record_payment(
        &self,
        user: &User,
        id: &str,
        amount: Decimal,
        date: NaiveDate,
        method: String,
        payer: String,
        bank_ref: String,
    ) -> Result<OrderView, ServiceError> {
        let mut errors = FieldErrors::default();
        validate_amount(amount, "amount", &mut errors);
        if amount <= Decimal::ZERO {
            errors.push("amount", "must be greater than zero");
        }
        errors.into_result()?;
        self.record_fact(user, id, Action::RecordPayment, "payment (回款)", |order| {
            // The same bank reference twice on one node is refused; on two nodes it becomes an
            // anomaly after the merge.
            let duplicate = order.live_payments().iter().any(|p| {
                matches!(&p.body, FactBody::Payment { bank_ref: r, .. } if !bank_ref.is_empty() && r == &bank_ref)
            });
            if duplicate {
                return Err(rule(format!("bank reference {bank_ref} is already recorded on this order")));
            }
            Ok(FactBody::Payment {
                amount,
                date,
                method,
                payer,
                bank_ref,
            })
        })
    }

    pub fn void_payment(
        &self,
        user: &User,
        id: &str,
        payment: &str,
        reason: String,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::VoidPayment, "void payment", |order| {
            if !order
                .facts
                .iter()
                .any(|f| f.id == payment && matches!(f.body, FactBody::Payment { .. }))
            {
                return Err(ServiceError::NotFound(format!("payment {payment}")));
            }
            if !order.live_payments().iter().any(|f| f.id == payment) {
                return Err(rule(format!("payment {payment} is already void")));
            }
            Ok(FactBody::PaymentVoid {
                payment: payment.to_string(),
                reason,
            })
        })
    }

    pub fn invoice(
        &self,
        user: &User,
        id: &str,
        number: String,
        title: String,
        amount: Decimal,
    ) -> Result<OrderView, ServiceError> {
        let mut errors = FieldErrors::default();
        validate_amount(amount, "amount", &mut errors);
        if number.trim().is_empty() {
            errors.push("number", "must not be empty");
        }
        errors.into_result()?;
        self.record_fact(user, id, Action::Invoice, "invoice (开票)", |order| {
            if order.tax_included() && title.trim() != order.get("invoice_title").trim() {
                return Err(rule(format!(
                    "invoice title must match the verified one ({:?})",
                    order.get("invoice_title")
                )));
            }
            Ok(FactBody::Invoice {
                number,
                title,
                amount,
            })
        })
    }

    pub fn cancel(&self, user: &User, id: &str, reason: String) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::CancelOrReinstate,
            "cancel",
            |order| match order.status() {
                Status::Cancelled => Err(rule("the order is already cancelled")),
                Status::Archived => Err(rule("an archived order cannot be cancelled")),
                _ => Ok(FactBody::Cancelled { reason }),
            },
        )
    }

    pub fn reinstate(
        &self,
        user: &User,
        id: &str,
        reason: String,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::CancelOrReinstate, "reinstate", |order| {
            if !order.is_cancelled() {
                return Err(rule("only a cancelled order can be reinstated"));
            }
            Ok(FactBody::Reinstated { reason })
        })
    }

    pub fn archive(&self, user: &User, id: &str) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Archive, "archive (归档)", |order| {
            let gross = order.totals().gross;
            if !order.fully_shipped() {
                return Err(rule("cannot archive: the order is not fully shipped"));
            }
            if order.paid() < gross {
                return Err(rule(format!(
                    "cannot archive: paid {} of {gross}",
                    order.paid()
                )));
            }
            if order.invoiced() < gross {
                return Err(rule(format!(
                    "cannot archive: invoiced {} of {gross}",
                    order.invoiced()
                )));
            }
            if order.status() == Status::Archived {
                return Err(rule("the order is already archived"));
            }
            Ok(FactBody::Archived)
        })
    }

    pub fn request_return(
        &self,
        user: &User,
        id: &str,
        return_kind: ReturnKind,
        lines: Vec<ShipLine>,
        reason: String,
        photos: Vec<String>,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::RequestReturn,
            "return request (退/换/维修)",
            |order| {
                check_lines(order, &lines)?;
                for (i, p) in photos.iter().enumerate() {
                    if self
                        .store
                        .get_raw(&crate::store::keys::attachment(p))?
                        .is_none()
                    {
                        return Err(FieldErrors::single(
                            format!("photos[{i}]"),
                            "no attachment with this hash",
                        )
                        .into());
                    }
                }
                Ok(FactBody::ReturnRequested {
                    return_kind,
                    lines,
                    reason,
                    photos,
                })
            },
        )
    }

    /// The order holding a return request.
    pub fn order_of_return(&self, return_id: &str) -> Result<String, ServiceError> {
        match self
            .store
            .scan_index(views::ORDER_RETURN, &format!("{return_id}\0"), None, false)
            .next()
        {
            Some(entry) => Ok(entry?.1),
            None => Err(ServiceError::NotFound(format!("return {return_id}"))),
        }
    }

    pub fn decide_return(
        &self,
        user: &User,
        return_id: &str,
        approved: bool,
        note: String,
    ) -> Result<OrderView, ServiceError> {
        let order_id = self.order_of_return(return_id)?;
        let what = if approved {
            "approve return"
        } else {
            "reject return"
        };
        self.record_fact(user, &order_id, Action::DecideReturn, what, |order| {
            let request = order
                .facts
                .iter()
                .find(|f| f.id == return_id)
                .ok_or_else(|| ServiceError::NotFound(format!("return {return_id}")))?;
            if request.user == user.name {
                return Err(rule("one cannot decide on one's own return request"));
            }
            if order.facts.iter().any(|f| matches!(&f.body, FactBody::ReturnDecided { request, .. } if request == return_id)) {
                return Err(rule("this return has already been decided"));
            }
            Ok(FactBody::ReturnDecided {
                request: return_id.to_string(),
                approved,
                note,
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn receive_return(
        &self,
        user: &User,
        return_id: &str,
        lines: Vec<ShipLine>,
        condition: String,
        disposition: Disposition,
        tag: String,
    ) -> Result<OrderView, ServiceError> {
        let order_id = self.order_of_return(return_id)?;
        self.record_fact(
            user,
            &order_id,
            Action::ReceiveReturn,
            "return received",
            |order| {
                check_lines(order, &lines)?;
                if tag.trim().is_empty() {
                    return Err(FieldErrors::single(
                        "tag",
                        "goods must be tagged so they can go back to the store",
                    )
                    .into());
                }
                Ok(FactBody::ReturnReceived {
                    request: return_id.to_string(),
                    lines,
                    condition,
                    disposition,
                    tag,
                })
            },
        )
    }

    /// The inbox: open anomalies of every order, newest order first.
    pub fn anomalies(&self, limit: usize) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut out = Vec::new();
        for entry in self
            .store
            .scan_index(views::ORDER_ANOMALIES, "", None, true)
        {
            let (_, doc) = entry?;
            let order = self.order(&doc)?;
            for a in anomaly::open(&order) {
                out.push(InboxAnomaly {
                    id: public_anomaly_id(&order.id, &a.id),
                    order_id: Some(order.id.clone()),
                    order_number: Some(order.get("number").to_string()),
                    customers: Vec::new(),
                    anomaly: a,
                });
            }
            if out.len() >= limit {
                break;
            }
        }
        out.extend(self.duplicate_customers()?);
        Ok(out)
    }

    /// Customer archives that are the same customer, created on two nodes (or twice on one).
    pub fn duplicate_customers(&self) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in self
            .store
            .scan_index(views::CUSTOMER_IDENTITY, "", None, false)
        {
            let (key, doc) = entry?;
            let prefix_len = crate::store::keys::index_prefix(views::CUSTOMER_IDENTITY).len();
            let value =
                String::from_utf8_lossy(&key[prefix_len..key.len() - doc.len() - 1]).to_string();
            groups.entry(value).or_default().push(doc);
        }
        // One anomaly per set of archives, however many keys they share.
        let mut sets: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (value, mut docs) in groups {
            docs.sort();
            docs.dedup();
            if docs.len() > 1 {
                sets.entry(docs).or_default().push(value);
            }
        }
        Ok(sets
            .into_iter()
            .map(|(customers, reasons)| {
                let local = format!("duplicate-customer:{}", customers.join("+"));
                InboxAnomaly {
                    id: public_anomaly_id("customers", &local),
                    order_id: None,
                    order_number: None,
                    anomaly: anomaly::Anomaly {
                        id: local,
                        kind: anomaly::AnomalyKind::DuplicateCustomer,
                        detail: format!(
                            "{} archives look like one customer ({})",
                            customers.len(),
                            reasons.join(", ")
                        ),
                        resolvers: anomaly::AnomalyKind::DuplicateCustomer.resolvers().to_vec(),
                        resolution: None,
                    },
                    customers,
                }
            })
            .collect())
    }

    /// Merges duplicate archives into `keep`: the others point to it and leave the inbox.
    pub fn merge_customers(
        &self,
        user: &User,
        public_id: &str,
        keep: &str,
        resolution: &str,
    ) -> Result<(), ServiceError> {
        let Some(dup) = self
            .duplicate_customers()?
            .into_iter()
            .find(|a| a.id == public_id)
        else {
            return Err(ServiceError::NotFound(format!("open anomaly {public_id}")));
        };
        if !dup.anomaly.resolvers.contains(&user.role) {
            return Err(ServiceError::Forbidden(format!(
                "duplicate customers are merged by a clerk, not {}",
                user.role
            )));
        }
        if !dup.customers.iter().any(|c| c == keep) {
            return Err(
                FieldErrors::single("keep", "must be one of the duplicate archives").into(),
            );
        }
        for other in dup.customers.iter().filter(|c| *c != keep) {
            let author = user.author(format!("merge customer into {keep}: {resolution}"));
            self.store.update(other, &author, |_| {
                Ok::<_, ServiceError>(vec![
                    RecordOp::field("merged_into", keep),
                    RecordOp::field("status", "frozen"),
                ])
            })?;
        }
        Ok(())
    }

    pub fn resolve_anomaly(
        &self,
        user: &User,
        public_id: &str,
        resolution: String,
    ) -> Result<OrderView, ServiceError> {
        let order_id = public_id
            .rsplit_once('-')
            .map(|(o, _)| o)
            .ok_or_else(|| ServiceError::NotFound(format!("anomaly {public_id}")))?;
        let order = self
            .order(order_id)
            .map_err(|_| ServiceError::NotFound(format!("anomaly {public_id}")))?;
        let target = anomaly::open(&order)
            .into_iter()
            .find(|a| public_anomaly_id(order_id, &a.id) == public_id)
            .ok_or_else(|| ServiceError::NotFound(format!("open anomaly {public_id}")))?;
        if !target.resolvers.contains(&user.role) {
            return Err(ServiceError::Forbidden(format!(
                "anomaly {public_id} is resolved by {:?}, not {}",
                target.resolvers, user.role
            )));
        }
        if resolution.trim().is_empty() {
            return Err(FieldErrors::single("resolution", "say how it was resolved").into());
        }
        let local = target.id.clone();
        append_fact(self, user, order_id, "resolve anomaly", move |_| {
            Ok(FactBody::AnomalyResolved {
                anomaly: local,
                resolution,
            })
        })
    }
}

/// Appends a fact whose permission the caller has checked (anomaly resolution is allowed to
/// whichever role the anomaly names, not to one fixed action).
fn append_fact(
    office: &BackOffice,
    user: &User,
    order_id: &str,
    what: &str,
    build: impl FnOnce(&Order) -> Result<FactBody, ServiceError>,
) -> Result<OrderView, ServiceError> {
    let node = office.identity.node_id.clone();
    let written = office
        .store
        .update(order_id, &user.author(what), |current| {
            let Some(record) = current.filter(|r| r.kind == ORDER_KIND) else {
                return Err(ServiceError::NotFound(format!("order {order_id}")));
            };
            let order = Order::from_record(order_id, record);
            Ok(vec![user.fact_op(&node, build(&order)?)?])
        })?;
    Ok(OrderView::of(&Order::from_record(
        order_id,
        &written.record,
    )))
}

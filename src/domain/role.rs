//! Roles and who may record what (DOMAIN.md, "Who may do what").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The one role a user holds; every recorded fact names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Clerk,
    Supervisor,
    Vp,
    Warehouse,
    Finance,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Clerk,
        Role::Supervisor,
        Role::Vp,
        Role::Warehouse,
        Role::Finance,
        Role::Admin,
    ];

    /// The roles that author business facts (every role but admin), for a node certificate.
    pub const BUSINESS: [Role; 5] = [
        Role::Clerk,
        Role::Supervisor,
        Role::Vp,
        Role::Warehouse,
        Role::Finance,
    ];

    /// The certificate roles a node of people in `self` needs by default: a warehouse or
    /// finance machine its own role; an office machine clerk, supervisor and vp.
    pub fn default_certificate_roles(self) -> Vec<Role> {
        match self {
            Role::Warehouse => vec![Role::Warehouse],
            Role::Finance => vec![Role::Finance],
            Role::Clerk | Role::Supervisor | Role::Vp | Role::Admin => {
                vec![Role::Clerk, Role::Supervisor, Role::Vp]
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Supervisor => "supervisor",
            Role::Vp => "vp",
            Role::Warehouse => "warehouse",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: expected one of clerk, supervisor, vp, warehouse, finance, admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Something a user asks to record; `may` decides whether their role allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    EditCustomer,
    TakeOrder,
    EditOrder,
    ReassignOwnership,
    Verify,
    Approve,
    ReleaseToWorkshop,
    Progress,
    ShippingDoc,
    FinanceRelease,
    Ship,
    RecordPayment,
    VoidPayment,
    Invoice,
    CancelOrReinstate,
    Archive,
    RequestReturn,
    DecideReturn,
    ReceiveReturn,
    /// Sending a repaired or exchanged item back to the customer.
    ReturnToCustomer,
    /// A supervisor's correction of an archived order.
    Correct,
    /// The VP acknowledging an order's delay (上报销售副总).
    AcknowledgeDelay,
    /// 催款: recording a payment reminder on an order.
    RemindPayment,
    /// 客诉: recording a complaint.
    RecordComplaint,
    /// Assigning a complaint to a person or department.
    AssignComplaint,
    /// Recording what was done about a complaint (the department it was assigned to, too).
    HandleComplaint,
    /// Closing a complaint with its result, or reopening it.
    CloseComplaint,
    /// The supervisor acknowledging a complaint open too long (上报主管).
    AcknowledgeComplaint,
    /// 合同: drafting a contract, editing its draft, submitting it, making a new version.
    DraftContract,
    /// 主管审核 of a contract.
    ReviewContract,
    /// 领导审批 of a contract.
    ApproveContract,
    /// Marking a contract signed (签订) and filing it (归档).
    SignContract,
}

impl Role {
    /// Whether this role may record `action`. Admin administers the node (users, backups) but
    /// records no business facts, so that every fact names the role that owns it.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Clerk => matches!(
                action,
                EditCustomer
                    | TakeOrder
                    | EditOrder
                    | Verify
                    | ReleaseToWorkshop
                    | Progress
                    | ShippingDoc
                    | Archive
                    | RequestReturn
                    | RemindPayment
                    | RecordComplaint
                    | AssignComplaint
                    | HandleComplaint
                    | CloseComplaint
                    | DraftContract
                    | SignContract
            ),
            Role::Supervisor => matches!(
                action,
                Approve
                    | ReassignOwnership
                    | Correct
                    | RemindPayment
                    | RecordComplaint
                    | AssignComplaint
                    | HandleComplaint
                    | CloseComplaint
                    | AcknowledgeComplaint
                    | ReviewContract
            ),
            Role::Vp => matches!(
                action,
                CancelOrReinstate
                    | DecideReturn
                    | AcknowledgeDelay
                    | HandleComplaint
                    | ApproveContract
            ),
            Role::Warehouse => matches!(
                action,
                Ship | ReceiveReturn | ReturnToCustomer | HandleComplaint
            ),
            Role::Finance => matches!(
                action,
                FinanceRelease | RecordPayment | VoidPayment | Invoice | HandleComplaint
            ),
            Role::Admin => false,
        }
    }
}

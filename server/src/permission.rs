//! Authorisation in the type: a handler names what it needs from its caller in its signature
//! (`FeedbackReader`, `CaseWorker`, `ConnectorViewer`, `ConnectorOperator`, `Admin`), and extracting that
//! argument refuses everyone else: 401 without a valid token, 403 with a role that lacks the
//! permission. A route cannot forget the check, because without the argument it has no caller.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest};

use crate::auth::{authenticate, Caller};
use crate::domain::Role;
use crate::error::ApiError;

/// Something a role may or may not do.
pub trait Permission {
    /// In words, for the 403: "role Integrator may not {ACTION}".
    const ACTION: &'static str;
    /// Whether `role` has it.
    fn allows(role: Role) -> bool;
}

/// Reading feedback (scope then decides which markets).
#[derive(Debug)]
pub struct ReadFeedback;
/// Seeing connector instances and their runs.
#[derive(Debug)]
pub struct SeeConnectors;
/// Running connectors and pushing records.
#[derive(Debug)]
pub struct RunConnectors;
/// Erasing records and reading the erasure log.
#[derive(Debug)]
pub struct EraseRecords;
/// Working cases: changing their status, assignee and notes (scope decides which markets).
#[derive(Debug)]
pub struct WorkCases;
/// Being signed in, whatever the role (what the caller then sees depends on it).
#[derive(Debug)]
pub struct SignIn;

impl Permission for ReadFeedback {
    const ACTION: &'static str = "read feedback";
    fn allows(role: Role) -> bool {
        role.reads_feedback()
    }
}

impl Permission for SeeConnectors {
    const ACTION: &'static str = "see connectors";
    fn allows(role: Role) -> bool {
        role.sees_connectors()
    }
}

impl Permission for RunConnectors {
    const ACTION: &'static str = "run connectors";
    fn allows(role: Role) -> bool {
        role.operates_connectors()
    }
}

impl Permission for EraseRecords {
    const ACTION: &'static str = "erase records";
    fn allows(role: Role) -> bool {
        role == Role::Admin
    }
}

impl Permission for WorkCases {
    const ACTION: &'static str = "work cases";
    fn allows(role: Role) -> bool {
        role.works_cases()
    }
}

impl Permission for SignIn {
    const ACTION: &'static str = "sign in";
    fn allows(_: Role) -> bool {
        true
    }
}

/// A caller whose role has permission `P`.
#[derive(Debug)]
pub struct Authorized<P> {
    caller: Caller,
    permission: PhantomData<P>,
}

/// Callers who read feedback.
pub type FeedbackReader = Authorized<ReadFeedback>;
/// Callers who see connectors.
pub type ConnectorViewer = Authorized<SeeConnectors>;
/// Callers who run connectors and push records.
pub type ConnectorOperator = Authorized<RunConnectors>;
/// Admins, who alone erase records.
pub type Admin = Authorized<EraseRecords>;
/// Callers who work cases in their scope.
pub type CaseWorker = Authorized<WorkCases>;
/// Any caller with a valid token.
pub type SignedIn = Authorized<SignIn>;

impl<P: Permission> Authorized<P> {
    /// The caller of `req`, if its token is valid and its role has `P`.
    ///
    /// # Errors
    /// `401` without a valid token, `403 role_not_allowed` without the permission.
    pub async fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        let caller = authenticate(req).await?;
        if !P::allows(caller.role) {
            return Err(ApiError::Forbidden {
                code: "role_not_allowed",
                message: format!("role {:?} may not {}", caller.role, P::ACTION),
            });
        }
        Ok(Authorized {
            caller,
            permission: PhantomData,
        })
    }
}

impl<P> Deref for Authorized<P> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<P: Permission + 'static> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Self::of(&req).await })
    }
}

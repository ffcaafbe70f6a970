//! A parsed OData `$filter` over workspaces. The API layer parses the text; the store turns the
//! tree into SQL with bound parameters (never by splicing the text).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceField {
    Name,
    Id,
    State,
    Type,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceFilter {
    Eq(WorkspaceField, String),
    Ne(WorkspaceField, String),
    Contains(WorkspaceField, String),
    StartsWith(WorkspaceField, String),
    EndsWith(WorkspaceField, String),
    And(Box<WorkspaceFilter>, Box<WorkspaceFilter>),
    Or(Box<WorkspaceFilter>, Box<WorkspaceFilter>),
    Not(Box<WorkspaceFilter>),
    /// `users/any()`: some principal holds a role; `users/any(u: u/groupUserAccessRight eq 'Admin')`:
    /// some principal holds that role (the Swagger's orphaned-workspace filter is built from these).
    AnyUser(Option<super::Role>),
}

/// One condition of the activity log's `$filter`, which only knows `eq` joined by `and`.
/// Values compare without regard to case, as the service's examples show (`'viewreport'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityCondition {
    Activity(String),
    UserId(String),
}

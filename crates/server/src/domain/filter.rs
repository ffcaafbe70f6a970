//! A parsed OData `$filter` over workspaces. The API layer parses the text; the store turns the
//! tree into SQL with bound parameters (never by splicing the text).

/// How deeply any filter (Power BI OData, Graph OData, SCIM) may nest: parentheses and `not`.
/// Deeper text is refused with a 400 in the API's dialect before it reaches SQL, whose
/// expression-depth limit (SQLite: 1000) would otherwise turn it into a 500.
pub const MAX_FILTER_DEPTH: usize = 32;

/// How many comparisons (and function calls, `users/any(…)`) any filter may hold.
pub const MAX_FILTER_TERMS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceField {
    Name,
    Id,
    State,
    Type,
    /// The workspace of an item (the admin item lists).
    WorkspaceId,
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
    /// None of these activities (the directory events, unless they are asked for).
    NotActivity(Vec<String>),
}

//! `pbi-access users`: the tenant's users from Graph, with their Power BI license.

use std::process::ExitCode;

use super::commands::{fail, render, Session};
use super::directory::{graph, users_by_id, Licenses};
use super::exit;
use super::output::{Format, Rows};

pub async fn users(s: &Session, format: Format) -> ExitCode {
    let graph = match graph(&s.profile) {
        Ok(g) => g,
        Err(e) => return fail(exit::USAGE, e),
    };
    let (users, licenses) = match tokio::try_join!(users_by_id(&graph), Licenses::load(&graph)) {
        Ok(both) => both,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let mut users: Vec<_> = users.into_values().collect();
    users.sort_by_key(|u| u.user_principal_name.clone().unwrap_or_default().to_lowercase());
    let mut rows = Rows::new(&["userPrincipalName", "displayName", "userType", "accountEnabled", "licenseType", "licenses"]);
    for u in &users {
        rows.push(vec![
            u.user_principal_name.clone().unwrap_or_default(),
            u.display_name.clone().unwrap_or_default(),
            u.user_type.clone().unwrap_or_default(),
            u.account_enabled.map(|e| e.to_string()).unwrap_or_default(),
            licenses.license_type(u).to_string(),
            licenses.names(u).join(" "),
        ]);
    }
    render(&rows, format)
}

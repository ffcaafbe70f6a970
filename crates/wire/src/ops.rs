//! The operation table: every user-management operation of the Power BI reference, as method,
//! path template and Swagger operationId. The server's routing table and compatibility matrix
//! are built from these constants and the client builds its URLs from them, so a route cannot
//! drift from the contract.

/// One operation of an API: HTTP method, path template (`{param}` segments) and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub id: &'static str,
    pub method: &'static str,
    pub path: &'static str,
}

impl Op {
    /// Substitute `{name}` segments in order with the given (already percent-encoded) values.
    pub fn url(&self, base: &str, params: &[&str]) -> String {
        let mut out = String::with_capacity(base.len() + self.path.len() + 64);
        out.push_str(base.trim_end_matches('/'));
        let mut params = params.iter();
        let mut rest = self.path;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').map(|e| start + e + 1).unwrap_or(rest.len());
            out.push_str(params.next().copied().unwrap_or(""));
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    /// Whether a request (method, path without query) is this operation: literal segments equal,
    /// each `{param}` one non-empty segment.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w.starts_with('{') => {
                    if g.is_empty() {
                        return false;
                    }
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }
}

/// The operation of `ops` a request is, preferring literal segments over parameters.
pub fn find(ops: &[Op], method: &str, path: &str) -> Option<Op> {
    ops.iter().filter(|o| o.matches(method, path)).min_by_key(|o| o.path.matches('{').count()).copied()
}

macro_rules! ops {
    ($($name:ident = $method:literal $path:literal $id:literal;)*) => {
        $(pub const $name: Op = Op { id: $id, method: $method, path: $path };)*
        /// Every operation in this module, in reference order.
        pub const ALL: &[Op] = &[$($name),*];
    };
}

/// Power BI REST v1.0 (`/v1.0/myorg/...`).
pub mod powerbi {
    use super::Op;
    ops! {
        GET_GROUPS = "GET" "/v1.0/myorg/groups" "Groups_GetGroups";
        CREATE_GROUP = "POST" "/v1.0/myorg/groups" "Groups_CreateGroup";
        GET_GROUP = "GET" "/v1.0/myorg/groups/{groupId}" "Groups_GetGroup";
        UPDATE_GROUP = "PATCH" "/v1.0/myorg/groups/{groupId}" "Groups_UpdateGroup";
        DELETE_GROUP = "DELETE" "/v1.0/myorg/groups/{groupId}" "Groups_DeleteGroup";
        GET_GROUP_USERS = "GET" "/v1.0/myorg/groups/{groupId}/users" "Groups_GetGroupUsers";
        ADD_GROUP_USER = "POST" "/v1.0/myorg/groups/{groupId}/users" "Groups_AddGroupUser";
        UPDATE_GROUP_USER = "PUT" "/v1.0/myorg/groups/{groupId}/users" "Groups_UpdateGroupUser";
        DELETE_USER_IN_GROUP = "DELETE" "/v1.0/myorg/groups/{groupId}/users/{user}" "Groups_DeleteUserInGroup";
        GET_GROUP_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/groups/{groupId}/users" "Groups_GetGroupUsersAsAdmin";
        ADD_USER_AS_ADMIN = "POST" "/v1.0/myorg/admin/groups/{groupId}/users" "Groups_AddUserAsAdmin";
        DELETE_USER_AS_ADMIN = "DELETE" "/v1.0/myorg/admin/groups/{groupId}/users/{user}" "Groups_DeleteUserAsAdmin";
        GET_GROUPS_AS_ADMIN = "GET" "/v1.0/myorg/admin/groups" "Groups_GetGroupsAsAdmin";
        GET_USER_ARTIFACT_ACCESS_AS_ADMIN = "GET" "/v1.0/myorg/admin/users/{userId}/artifactAccess" "Users_GetUserArtifactAccessAsAdmin";
        GET_USER_SUBSCRIPTIONS_AS_ADMIN = "GET" "/v1.0/myorg/admin/users/{userId}/subscriptions" "Users_GetUserSubscriptionsAsAdmin";
        GET_ACTIVITY_EVENTS = "GET" "/v1.0/myorg/admin/activityevents" "Admin_GetActivityEvents";
        GET_REPORT_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/reports/{reportId}/users" "Reports_GetReportUsersAsAdmin";
        GET_DASHBOARD_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/dashboards/{dashboardId}/users" "Dashboards_GetDashboardUsersAsAdmin";
        GET_DATASET_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/datasets/{datasetId}/users" "Datasets_GetDatasetUsersAsAdmin";
        GET_APP_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/apps/{appId}/users" "Apps_GetAppUsersAsAdmin";
        GET_DATAFLOW_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/dataflows/{dataflowId}/users" "Dataflows_GetDataflowUsersAsAdmin";
        GET_CAPACITY_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/capacities/{capacityId}/users" "Capacities_GetCapacityUsersAsAdmin";
        GET_DATASET_USERS = "GET" "/v1.0/myorg/datasets/{datasetId}/users" "Datasets_GetDatasetUsers";
        POST_DATASET_USER = "POST" "/v1.0/myorg/datasets/{datasetId}/users" "Datasets_PostDatasetUser";
        PUT_DATASET_USER = "PUT" "/v1.0/myorg/datasets/{datasetId}/users" "Datasets_PutDatasetUser";
        DELETE_DATASET_USER = "DELETE" "/v1.0/myorg/datasets/{datasetId}/users/{user}" "Datasets_DeleteDatasetUser (not in Swagger)";
        GET_DATASET_USERS_IN_GROUP = "GET" "/v1.0/myorg/groups/{groupId}/datasets/{datasetId}/users" "Datasets_GetDatasetUsersInGroup";
        POST_DATASET_USER_IN_GROUP = "POST" "/v1.0/myorg/groups/{groupId}/datasets/{datasetId}/users" "Datasets_PostDatasetUserInGroup";
        PUT_DATASET_USER_IN_GROUP = "PUT" "/v1.0/myorg/groups/{groupId}/datasets/{datasetId}/users" "Datasets_PutDatasetUserInGroup";
        POST_WORKSPACE_INFO = "POST" "/v1.0/myorg/admin/workspaces/getInfo" "WorkspaceInfo_PostWorkspaceInfo";
        GET_SCAN_STATUS = "GET" "/v1.0/myorg/admin/workspaces/scanStatus/{scanId}" "WorkspaceInfo_GetScanStatus";
        GET_SCAN_RESULT = "GET" "/v1.0/myorg/admin/workspaces/scanResult/{scanId}" "WorkspaceInfo_GetScanResult";
        GET_MODIFIED_WORKSPACES = "GET" "/v1.0/myorg/admin/workspaces/modified" "WorkspaceInfo_GetModifiedWorkspaces";
        REFRESH_USER_PERMISSIONS = "POST" "/v1.0/myorg/RefreshUserPermissions" "Users_RefreshUserPermissions";
        GET_PIPELINE_USERS = "GET" "/v1.0/myorg/pipelines/{pipelineId}/users" "Pipelines_GetPipelineUsers";
        UPDATE_PIPELINE_USER = "POST" "/v1.0/myorg/pipelines/{pipelineId}/users" "Pipelines_UpdatePipelineUser";
        DELETE_PIPELINE_USER = "DELETE" "/v1.0/myorg/pipelines/{pipelineId}/users/{identifier}" "Pipelines_DeletePipelineUser";
        GET_PIPELINE_USERS_AS_ADMIN = "GET" "/v1.0/myorg/admin/pipelines/{pipelineId}/users" "Pipelines_GetPipelineUsersAsAdmin";
        UPDATE_USER_AS_ADMIN_PIPELINE = "POST" "/v1.0/myorg/admin/pipelines/{pipelineId}/users" "Pipelines_UpdateUserAsAdmin";
        DELETE_USER_AS_ADMIN_PIPELINE = "DELETE" "/v1.0/myorg/admin/pipelines/{pipelineId}/users/{identifier}" "Pipelines_DeleteUserAsAdmin";
        GET_DATASOURCE_USERS = "GET" "/v1.0/myorg/gateways/{gatewayId}/datasources/{datasourceId}/users" "Gateways_GetDatasourceUsers";
        ADD_DATASOURCE_USER = "POST" "/v1.0/myorg/gateways/{gatewayId}/datasources/{datasourceId}/users" "Gateways_AddDatasourceUser";
        DELETE_DATASOURCE_USER = "DELETE" "/v1.0/myorg/gateways/{gatewayId}/datasources/{datasourceId}/users/{emailAdress}" "Gateways_DeleteDatasourceUser";
        GET_DATASETS_IN_GROUP = "GET" "/v1.0/myorg/groups/{groupId}/datasets" "Datasets_GetDatasetsInGroup";
        GET_DATASET_IN_GROUP = "GET" "/v1.0/myorg/groups/{groupId}/datasets/{datasetId}" "Datasets_GetDatasetInGroup";
        GET_REPORTS_IN_GROUP = "GET" "/v1.0/myorg/groups/{groupId}/reports" "Reports_GetReportsInGroup";
        GET_REPORT_IN_GROUP = "GET" "/v1.0/myorg/groups/{groupId}/reports/{reportId}" "Reports_GetReportInGroup";
        GET_DASHBOARDS_IN_GROUP = "GET" "/v1.0/myorg/groups/{groupId}/dashboards" "Dashboards_GetDashboardsInGroup";
        GET_DASHBOARD_IN_GROUP = "GET" "/v1.0/myorg/groups/{groupId}/dashboards/{dashboardId}" "Dashboards_GetDashboardInGroup";
        GET_DATAFLOWS = "GET" "/v1.0/myorg/groups/{groupId}/dataflows" "Dataflows_GetDataflows";
        GET_CAPACITIES = "GET" "/v1.0/myorg/capacities" "Capacities_GetCapacities";
        GET_DATAFLOW = "GET" "/v1.0/myorg/groups/{groupId}/dataflows/{dataflowId}" "Dataflows_GetDataflow";
        GET_DATASETS = "GET" "/v1.0/myorg/datasets" "Datasets_GetDatasets";
        GET_DATASET = "GET" "/v1.0/myorg/datasets/{datasetId}" "Datasets_GetDataset";
        GET_REPORTS = "GET" "/v1.0/myorg/reports" "Reports_GetReports";
        GET_REPORT = "GET" "/v1.0/myorg/reports/{reportId}" "Reports_GetReport";
        GET_DASHBOARDS = "GET" "/v1.0/myorg/dashboards" "Dashboards_GetDashboards";
        GET_DASHBOARD = "GET" "/v1.0/myorg/dashboards/{dashboardId}" "Dashboards_GetDashboard";
        GET_APPS = "GET" "/v1.0/myorg/apps" "Apps_GetApps";
        GET_APP = "GET" "/v1.0/myorg/apps/{appId}" "Apps_GetApp";
        GET_APP_REPORTS = "GET" "/v1.0/myorg/apps/{appId}/reports" "Apps_GetReports";
        GET_APP_REPORT = "GET" "/v1.0/myorg/apps/{appId}/reports/{reportId}" "Apps_GetReport";
        GET_APP_DASHBOARDS = "GET" "/v1.0/myorg/apps/{appId}/dashboards" "Apps_GetDashboards";
        GET_APP_DASHBOARD = "GET" "/v1.0/myorg/apps/{appId}/dashboards/{dashboardId}" "Apps_GetDashboard";
        GET_APPS_AS_ADMIN = "GET" "/v1.0/myorg/admin/apps" "Apps_GetAppsAsAdmin";
        GET_REPORTS_AS_ADMIN = "GET" "/v1.0/myorg/admin/reports" "Reports_GetReportsAsAdmin";
        GET_DATASETS_AS_ADMIN = "GET" "/v1.0/myorg/admin/datasets" "Datasets_GetDatasetsAsAdmin";
        GET_DASHBOARDS_AS_ADMIN = "GET" "/v1.0/myorg/admin/dashboards" "Dashboards_GetDashboardsAsAdmin";
        GET_DATAFLOWS_AS_ADMIN = "GET" "/v1.0/myorg/admin/dataflows" "Dataflows_GetDataflowsAsAdmin";
    }
}

/// Entra ID (Microsoft identity platform v2.0). `{tenant}` is a tenant id, its domain, or (where
/// Entra allows it) `common` / `organizations`.
pub mod identity {
    use super::Op;
    ops! {
        TOKEN = "POST" "/{tenant}/oauth2/v2.0/token" "Token";
        KEYS = "GET" "/{tenant}/discovery/v2.0/keys" "Keys";
        KEYS_V1 = "GET" "/{tenant}/discovery/keys" "Keys (v1)";
        OPENID_CONFIGURATION = "GET" "/{tenant}/v2.0/.well-known/openid-configuration" "OpenIdConfiguration";
        OPENID_CONFIGURATION_V1 = "GET" "/{tenant}/.well-known/openid-configuration" "OpenIdConfiguration (v1)";
        INSTANCE_DISCOVERY = "GET" "/common/discovery/instance" "InstanceDiscovery";
        USER_REALM = "GET" "/common/userrealm/{username}" "UserRealm";
        AUTHORIZE = "GET" "/{tenant}/oauth2/v2.0/authorize" "Authorize";
        DEVICE_CODE = "POST" "/{tenant}/oauth2/v2.0/devicecode" "DeviceCode";
        DEVICE_AUTH = "GET" "/{tenant}/oauth2/deviceauth" "DeviceAuth (verification page)";
        LOGOUT = "GET" "/{tenant}/oauth2/v2.0/logout" "Logout";
        TOKEN_V1 = "POST" "/{tenant}/oauth2/token" "Token (v1)";
        AUTHORIZE_V1 = "GET" "/{tenant}/oauth2/authorize" "Authorize (v1)";
        DEVICE_CODE_V1 = "POST" "/{tenant}/oauth2/devicecode" "DeviceCode (v1)";
        LOGOUT_V1 = "GET" "/{tenant}/oauth2/logout" "Logout (v1)";
    }
}

/// Fabric REST v1 (`https://api.fabric.microsoft.com/v1/...`): workspaces and their role
/// assignments (platform), and the admin reads of workspace access (`/v1/admin/...`).
pub mod fabric {
    use super::Op;
    ops! {
        LIST_WORKSPACES = "GET" "/v1/workspaces" "Workspaces_ListWorkspaces";
        GET_WORKSPACE = "GET" "/v1/workspaces/{workspaceId}" "Workspaces_GetWorkspace";
        LIST_WORKSPACE_ROLE_ASSIGNMENTS = "GET" "/v1/workspaces/{workspaceId}/roleAssignments" "Workspaces_ListWorkspaceRoleAssignments";
        ADD_WORKSPACE_ROLE_ASSIGNMENT = "POST" "/v1/workspaces/{workspaceId}/roleAssignments" "Workspaces_AddWorkspaceRoleAssignment";
        GET_WORKSPACE_ROLE_ASSIGNMENT = "GET" "/v1/workspaces/{workspaceId}/roleAssignments/{workspaceRoleAssignmentId}" "Workspaces_GetWorkspaceRoleAssignment";
        UPDATE_WORKSPACE_ROLE_ASSIGNMENT = "PATCH" "/v1/workspaces/{workspaceId}/roleAssignments/{workspaceRoleAssignmentId}" "Workspaces_UpdateWorkspaceRoleAssignment";
        DELETE_WORKSPACE_ROLE_ASSIGNMENT = "DELETE" "/v1/workspaces/{workspaceId}/roleAssignments/{workspaceRoleAssignmentId}" "Workspaces_DeleteWorkspaceRoleAssignment";
        ADMIN_LIST_WORKSPACES = "GET" "/v1/admin/workspaces" "Admin_Workspaces_ListWorkspaces";
        ADMIN_LIST_WORKSPACE_ACCESS_DETAILS = "GET" "/v1/admin/workspaces/{workspaceId}/users" "Admin_Workspaces_ListWorkspaceAccessDetails";
        ADMIN_LIST_ITEM_ACCESS_DETAILS = "GET" "/v1/admin/workspaces/{workspaceId}/items/{itemId}/users" "Admin_Items_ListItemAccessDetails";
        ADMIN_LIST_ACCESS_ENTITIES = "GET" "/v1/admin/users/{userId}/access" "Admin_Users_ListAccessEntities";
        ADMIN_GRANT_ADMIN_TEMPORARY_ACCESS = "POST" "/v1/admin/workspaces/{workspaceId}/grantAdminTemporaryAccess" "Admin_Workspaces_GrantAdminTemporaryAccess";
        ADMIN_REMOVE_ADMIN_TEMPORARY_ACCESS = "POST" "/v1/admin/workspaces/{workspaceId}/removeAdminTemporaryAccess" "Admin_Workspaces_RemoveAdminTemporaryAccess";
    }
}

/// The operator API of pbi-access itself (not a Microsoft API).
pub mod operator {
    use super::Op;
    ops! {
        GET_FAULTS = "GET" "/operator/v1/faults" "GetFaults";
        PUT_FAULTS = "PUT" "/operator/v1/faults" "PutFaults";
        DELETE_FAULTS = "DELETE" "/operator/v1/faults" "DeleteFaults";
        LIST_TENANTS = "GET" "/operator/v1/tenants" "ListTenants";
        IMPORT_TENANT = "POST" "/operator/v1/tenants" "ImportTenant";
        EXPORT_TENANT = "GET" "/operator/v1/tenants/{tenant}" "ExportTenant";
        GET_REQUESTS = "GET" "/operator/v1/requests" "GetRequestStats";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_substitutes_parameters_in_order() {
        let url = powerbi::DELETE_USER_IN_GROUP.url("https://api.powerbi.com/", &["g1", "a%40b.com"]);
        assert_eq!(url, "https://api.powerbi.com/v1.0/myorg/groups/g1/users/a%40b.com");
        assert_eq!(powerbi::GET_GROUPS.url("http://x", &[]), "http://x/v1.0/myorg/groups");
    }

    #[test]
    fn requests_find_their_operation() {
        let found = |m: &str, p: &str| find(powerbi::ALL, m, p).map(|o| o.id);
        assert_eq!(found("GET", "/v1.0/myorg/admin/workspaces/modified"), Some(powerbi::GET_MODIFIED_WORKSPACES.id));
        assert_eq!(found("GET", "/v1.0/myorg/admin/workspaces/scanStatus/abc"), Some(powerbi::GET_SCAN_STATUS.id));
        assert_eq!(found("post", "/v1.0/myorg/admin/workspaces/getInfo"), Some(powerbi::POST_WORKSPACE_INFO.id));
        assert_eq!(found("GET", "/v1.0/myorg/admin/groups"), Some(powerbi::GET_GROUPS_AS_ADMIN.id));
        assert_eq!(found("DELETE", "/v1.0/myorg/groups/g/users/a%40b.com"), Some(powerbi::DELETE_USER_IN_GROUP.id));
        assert_eq!(found("GET", "/v1.0/myorg/admin/workspaces/scanStatus/"), None);
        assert_eq!(found("GET", "/v1.0/myorg/admin/nothing"), None);
    }

    #[test]
    fn operation_table_has_no_duplicate_routes() {
        let mut seen = std::collections::HashSet::new();
        for op in powerbi::ALL.iter().chain(identity::ALL).chain(operator::ALL).chain(fabric::ALL) {
            assert!(seen.insert((op.method, op.path)), "duplicate {} {}", op.method, op.path);
        }
    }
}

//! Which test witnesses each served operation: a path from the workspace root and the name of a
//! test in that file (a `fn`, or the first argument of a test macro such as
//! `backend_test!`). `docs/compatibility.md` prints the witness of every operation, and the
//! compatibility test fails when an implemented operation has none or a named test does not exist.

use pbi_wire::ops::{fabric, identity, powerbi as pbi, Op};

use crate::api::{graph, scim};

const GROUPS: &str = "crates/server/tests/api/groups.rs";
const GROUP_USERS: &str = "crates/server/tests/api/group_users.rs";
const ADMIN: &str = "crates/server/tests/api/admin.rs";
const AUDIT: &str = "crates/server/tests/api/audit.rs";
const ACTIVITY: &str = "crates/server/tests/api/activity.rs";
const ARTIFACTS: &str = "crates/server/tests/api/artifacts.rs";
const DATASET_USERS: &str = "crates/server/tests/api/dataset_users.rs";
const SCANNER: &str = "crates/server/tests/api/scanner.rs";
const SHARED_ITEMS: &str = "crates/server/tests/api/shared_items.rs";
const TOKENS: &str = "crates/server/tests/api/tokens.rs";
const OIDC: &str = "crates/server/tests/api/oidc.rs";
const MICROSOFT_CLIENTS: &str = "crates/pbi-access/tests/microsoft_clients.rs";
const AUTHFLOWS: &str = "crates/server/tests/api/authflows.rs";
const ITEMS: &str = "crates/server/tests/api/items.rs";
const SCIM: &str = "crates/server/tests/api/scim.rs";
const GRAPH: &str = "crates/server/tests/api/graph.rs";
const DIRECTORY_ACTIVITY: &str = "crates/server/tests/api/directory_activity.rs";
const FABRIC: &str = "crates/server/tests/api/fabric.rs";
const FABRIC_CLI: &str = "crates/pbi-access/tests/fabric_cli.rs";

/// (operation, test file, test name). An operation may have several witnesses; the first is
/// the one the matrix shows.
pub const WITNESSES: &[(Op, &str, &str)] = &[
    (pbi::GET_GROUPS, GROUPS, "lists_only_workspaces_the_caller_has_a_role_in"),
    (pbi::CREATE_GROUP, GROUPS, "creating_a_workspace_makes_the_caller_admin"),
    (pbi::GET_GROUP, GROUPS, "admins_rename_a_workspace_with_patch"),
    (pbi::UPDATE_GROUP, GROUPS, "admins_rename_a_workspace_with_patch"),
    (pbi::DELETE_GROUP, GROUPS, "only_an_admin_deletes_a_workspace"),
    (pbi::GET_GROUP_USERS, GROUP_USERS, "workspace_users_list_has_no_admin_fields"),
    (pbi::ADD_GROUP_USER, GROUP_USERS, "add_accepts_both_body_forms_and_every_principal_kind"),
    (pbi::UPDATE_GROUP_USER, GROUP_USERS, "adding_an_existing_member_is_refused_and_put_needs_a_member"),
    (pbi::DELETE_USER_IN_GROUP, GROUP_USERS, "delete_decodes_the_user_segment"),
    (pbi::GET_GROUP_USERS_AS_ADMIN, ADMIN, "admin_list_adds_graph_id_and_user_type"),
    (pbi::ADD_USER_AS_ADMIN, ADMIN, "admin_changes_skip_workspace_roles"),
    (pbi::DELETE_USER_AS_ADMIN, ADMIN, "admin_changes_skip_workspace_roles"),
    (pbi::GET_GROUPS_AS_ADMIN, AUDIT, "admin_groups_list_every_workspace_with_state_filters_and_expand"),
    (pbi::GET_USER_ARTIFACT_ACCESS_AS_ADMIN, AUDIT, "artifact_access_reaches_through_roles_groups_and_permissions"),
    (pbi::GET_USER_SUBSCRIPTIONS_AS_ADMIN, AUDIT, "subscriptions_page_with_continuation_tokens"),
    (pbi::GET_ACTIVITY_EVENTS, ACTIVITY, "every_access_change_is_recorded_in_the_activity_log"),
    (pbi::GET_REPORT_USERS_AS_ADMIN, ARTIFACTS, "admin_user_lists_show_roles_and_direct_permissions_per_kind"),
    (pbi::GET_DASHBOARD_USERS_AS_ADMIN, ARTIFACTS, "admin_user_lists_show_roles_and_direct_permissions_per_kind"),
    (pbi::GET_DATASET_USERS_AS_ADMIN, ARTIFACTS, "admin_user_lists_show_roles_and_direct_permissions_per_kind"),
    (pbi::GET_APP_USERS_AS_ADMIN, ARTIFACTS, "admin_user_lists_show_roles_and_direct_permissions_per_kind"),
    (pbi::GET_DATAFLOW_USERS_AS_ADMIN, ARTIFACTS, "admin_user_lists_show_roles_and_direct_permissions_per_kind"),
    (pbi::GET_CAPACITY_USERS_AS_ADMIN, ARTIFACTS, "admin_user_lists_show_roles_and_direct_permissions_per_kind"),
    (pbi::GET_DATASET_USERS, DATASET_USERS, "callers_need_the_swagger_rights_on_the_dataset"),
    (pbi::POST_DATASET_USER, DATASET_USERS, "callers_need_the_swagger_rights_on_the_dataset"),
    (pbi::PUT_DATASET_USER, DATASET_USERS, "put_replaces_and_cannot_touch_write_or_inherited_rights"),
    (pbi::DELETE_DATASET_USER, DATASET_USERS, "delete_removes_direct_permissions_as_put_none_does"),
    (pbi::GET_DATASET_USERS_IN_GROUP, DATASET_USERS, "get_lists_role_and_direct_rights_with_three_fields"),
    (pbi::POST_DATASET_USER_IN_GROUP, DATASET_USERS, "post_grants_only_entry_rights_to_users_and_groups_and_adds_up"),
    (
        pbi::PUT_DATASET_USER_IN_GROUP,
        "crates/server/tests/api/swagger_users.rs",
        "swagger_user_operations_with_real_ids_get_no_server_error",
    ),
    (pbi::GET_DATASETS_IN_GROUP, ARTIFACTS, "workspace_items_are_listed_with_the_swagger_fields"),
    (pbi::GET_DATASET_IN_GROUP, ARTIFACTS, "workspace_items_are_listed_with_the_swagger_fields"),
    (pbi::GET_REPORTS_IN_GROUP, ARTIFACTS, "workspace_items_are_listed_with_the_swagger_fields"),
    (pbi::GET_REPORT_IN_GROUP, ARTIFACTS, "workspace_items_are_listed_with_the_swagger_fields"),
    (pbi::GET_DASHBOARDS_IN_GROUP, ARTIFACTS, "workspace_items_are_listed_with_the_swagger_fields"),
    (pbi::GET_DASHBOARD_IN_GROUP, ARTIFACTS, "workspace_items_are_listed_with_the_swagger_fields"),
    (pbi::GET_DATAFLOWS, ARTIFACTS, "items_are_visible_through_roles_or_direct_permissions_only"),
    (pbi::GET_CAPACITIES, ARTIFACTS, "capacities_list_the_callers_right_and_workspaces_show_their_capacity"),
    (pbi::GET_DATAFLOW, ITEMS, "my_workspace_lists_and_single_reads_find_items_outside_workspaces"),
    (pbi::GET_DATASETS, ITEMS, "my_workspace_lists_and_single_reads_find_items_outside_workspaces"),
    (pbi::GET_DATASET, ITEMS, "my_workspace_lists_and_single_reads_find_items_outside_workspaces"),
    (pbi::GET_REPORTS, ITEMS, "my_workspace_lists_and_single_reads_find_items_outside_workspaces"),
    (pbi::GET_REPORT, ITEMS, "my_workspace_lists_and_single_reads_find_items_outside_workspaces"),
    (pbi::GET_DASHBOARDS, ITEMS, "my_workspace_lists_and_single_reads_find_items_outside_workspaces"),
    (pbi::GET_DASHBOARD, ITEMS, "my_workspace_lists_and_single_reads_find_items_outside_workspaces"),
    (pbi::GET_APPS, ITEMS, "apps_list_what_the_caller_can_open_with_their_reports_and_dashboards"),
    (pbi::GET_APP, ITEMS, "apps_list_what_the_caller_can_open_with_their_reports_and_dashboards"),
    (pbi::GET_APP_REPORTS, ITEMS, "apps_list_what_the_caller_can_open_with_their_reports_and_dashboards"),
    (pbi::GET_APP_REPORT, ITEMS, "apps_list_what_the_caller_can_open_with_their_reports_and_dashboards"),
    (pbi::GET_APP_DASHBOARDS, ITEMS, "apps_list_what_the_caller_can_open_with_their_reports_and_dashboards"),
    (pbi::GET_APP_DASHBOARD, ITEMS, "apps_list_what_the_caller_can_open_with_their_reports_and_dashboards"),
    (pbi::GET_APPS_AS_ADMIN, ITEMS, "admin_item_lists_filter_page_and_carry_the_workspace"),
    (pbi::GET_REPORTS_AS_ADMIN, ITEMS, "admin_item_lists_filter_page_and_carry_the_workspace"),
    (pbi::GET_DATASETS_AS_ADMIN, ITEMS, "admin_item_lists_filter_page_and_carry_the_workspace"),
    (pbi::GET_DASHBOARDS_AS_ADMIN, ITEMS, "admin_item_lists_filter_page_and_carry_the_workspace"),
    (pbi::GET_DATAFLOWS_AS_ADMIN, ITEMS, "admin_item_lists_filter_page_and_carry_the_workspace"),
    (pbi::POST_WORKSPACE_INFO, SCANNER, "a_scan_moves_from_not_started_to_succeeded_and_reports_workspaces"),
    (pbi::GET_SCAN_STATUS, SCANNER, "a_scan_moves_from_not_started_to_succeeded_and_reports_workspaces"),
    (pbi::GET_SCAN_RESULT, SCANNER, "a_scan_moves_from_not_started_to_succeeded_and_reports_workspaces"),
    (pbi::GET_MODIFIED_WORKSPACES, SCANNER, "modified_workspaces_since_a_time"),
    (pbi::REFRESH_USER_PERMISSIONS, GROUPS, "refresh_user_permissions_answers_once_an_hour_per_caller"),
    (pbi::GET_PIPELINE_USERS, SHARED_ITEMS, "pipeline_admins_list_add_and_remove_pipeline_users"),
    (pbi::UPDATE_PIPELINE_USER, SHARED_ITEMS, "pipeline_admins_list_add_and_remove_pipeline_users"),
    (pbi::DELETE_PIPELINE_USER, SHARED_ITEMS, "pipeline_admins_list_add_and_remove_pipeline_users"),
    (pbi::GET_PIPELINE_USERS_AS_ADMIN, SHARED_ITEMS, "fabric_admins_manage_any_pipeline_through_the_admin_endpoints"),
    (pbi::UPDATE_USER_AS_ADMIN_PIPELINE, SHARED_ITEMS, "fabric_admins_manage_any_pipeline_through_the_admin_endpoints"),
    (pbi::DELETE_USER_AS_ADMIN_PIPELINE, SHARED_ITEMS, "fabric_admins_manage_any_pipeline_through_the_admin_endpoints"),
    (pbi::GET_DATASOURCE_USERS, SHARED_ITEMS, "gateway_admins_grant_change_and_remove_data_source_users"),
    (pbi::ADD_DATASOURCE_USER, SHARED_ITEMS, "gateway_admins_grant_change_and_remove_data_source_users"),
    (pbi::DELETE_DATASOURCE_USER, SHARED_ITEMS, "gateway_admins_grant_change_and_remove_data_source_users"),
    // The identity plane: a real Microsoft client (MSAL, azure-identity) where one runs.
    (identity::TOKEN, MICROSOFT_CLIENTS, "msal_and_azure_identity_get_working_tokens_over_tls"),
    (identity::TOKEN, TOKENS, "client_credentials_token_is_an_entra_shaped_rs256_jwt"),
    (identity::TOKEN_V1, TOKENS, "the_v1_endpoint_issues_for_a_resource_in_the_v1_shape"),
    (identity::AUTHORIZE, AUTHFLOWS, "a_public_client_signs_in_with_pkce_and_redeems_its_code_once"),
    (identity::AUTHORIZE, MICROSOFT_CLIENTS, "msal_interactive_flows_sign_a_person_in_over_tls"),
    (identity::DEVICE_CODE, MICROSOFT_CLIENTS, "msal_interactive_flows_sign_a_person_in_over_tls"),
    (identity::DEVICE_CODE, AUTHFLOWS, "the_device_code_flow_polls_until_the_person_signs_in_on_the_verification_page"),
    (identity::DEVICE_AUTH, AUTHFLOWS, "the_device_code_flow_polls_until_the_person_signs_in_on_the_verification_page"),
    (identity::LOGOUT, AUTHFLOWS, "logout_clears_the_sign_in_cookie_and_returns_only_to_a_registered_address"),
    (identity::AUTHORIZE_V1, AUTHFLOWS, "the_v1_authorize_endpoint_signs_in_for_a_resource_and_the_v1_token_endpoint_redeems"),
    (identity::DEVICE_CODE_V1, AUTHFLOWS, "the_v1_device_code_flow_answers_in_adals_shape"),
    (identity::LOGOUT_V1, AUTHFLOWS, "the_v1_logout_endpoint_signs_out_like_the_v2_one"),
    (identity::KEYS, OIDC, "openid_configuration_has_entras_v2_shape"),
    (identity::KEYS_V1, OIDC, "openid_configuration_has_entras_v2_shape"),
    (identity::OPENID_CONFIGURATION, MICROSOFT_CLIENTS, "msal_and_azure_identity_get_working_tokens_over_tls"),
    (identity::OPENID_CONFIGURATION_V1, OIDC, "openid_configurations_keep_their_own_lists_and_endpoints"),
    (identity::INSTANCE_DISCOVERY, MICROSOFT_CLIENTS, "msal_and_azure_identity_get_working_tokens_over_tls"),
    (identity::USER_REALM, OIDC, "instance_discovery_and_user_realm_answer_like_entra"),
    // SCIM, as Entra's provisioning service sends it.
    (scim::SERVICE_PROVIDER_CONFIG, SCIM, "scim_discovery_advertises_what_is_implemented"),
    (scim::RESOURCE_TYPES, SCIM, "scim_discovery_advertises_what_is_implemented"),
    (scim::RESOURCE_TYPE, SCIM, "scim_discovery_advertises_what_is_implemented"),
    (scim::SCHEMAS, SCIM, "scim_discovery_advertises_what_is_implemented"),
    (scim::SCHEMA, SCIM, "scim_discovery_advertises_what_is_implemented"),
    (scim::LIST_USERS, SCIM, "scim_filters_paging_and_projection"),
    (scim::CREATE_USER, SCIM, "scim_user_lifecycle_in_entra_forms"),
    (scim::GET_USER, SCIM, "scim_user_lifecycle_in_entra_forms"),
    (scim::REPLACE_USER, SCIM, "scim_user_lifecycle_in_entra_forms"),
    (scim::PATCH_USER, SCIM, "scim_user_lifecycle_in_entra_forms"),
    (scim::DELETE_USER, SCIM, "scim_user_lifecycle_in_entra_forms"),
    (scim::LIST_GROUPS, SCIM, "scim_group_lists_are_served_from_indexes_and_paged"),
    (scim::CREATE_GROUP, SCIM, "scim_groups_members_nesting_and_cycles"),
    (scim::GET_GROUP, SCIM, "scim_groups_members_nesting_and_cycles"),
    (scim::REPLACE_GROUP, SCIM, "scim_groups_members_nesting_and_cycles"),
    (scim::PATCH_GROUP, SCIM, "scim_groups_members_nesting_and_cycles"),
    (scim::DELETE_GROUP, SCIM, "scim_groups_members_nesting_and_cycles"),
    // Microsoft Graph.
    (graph::LIST_USERS, GRAPH, "graph_user_queries_filter_select_and_page"),
    (graph::GET_ME, AUTHFLOWS, "a_signed_in_user_reads_me_and_userinfo_and_app_tokens_are_refused"),
    (graph::ME_MEMBER_OF, AUTHFLOWS, "a_signed_in_user_reads_me_and_userinfo_and_app_tokens_are_refused"),
    (graph::USERINFO, AUTHFLOWS, "a_signed_in_user_reads_me_and_userinfo_and_app_tokens_are_refused"),
    (graph::USERINFO_POST, AUTHFLOWS, "a_signed_in_user_reads_me_and_userinfo_and_app_tokens_are_refused"),
    (
        graph::LIST_DIRECTORY_AUDITS,
        DIRECTORY_ACTIVITY,
        "graph_directory_audits_list_directory_changes_newest_first_with_filters_and_paging",
    ),
    (graph::COUNT_USERS, GRAPH, "graph_user_lists_keyset_in_and_count"),
    (graph::CREATE_USER, GRAPH, "graph_user_lifecycle_with_soft_delete_and_restore"),
    (graph::GET_USER, GRAPH, "graph_user_lifecycle_with_soft_delete_and_restore"),
    (graph::UPDATE_USER, GRAPH, "graph_user_lifecycle_with_soft_delete_and_restore"),
    (graph::DELETE_USER, GRAPH, "graph_user_lifecycle_with_soft_delete_and_restore"),
    (graph::ASSIGN_USER_LICENSE, GRAPH, "graph_licenses_seats_groups_and_propagation"),
    (graph::REPROCESS_LICENSES, GRAPH, "graph_group_licences_count_violation_until_reprocessed"),
    (graph::LICENSE_DETAILS, GRAPH, "graph_licenses_seats_groups_and_propagation"),
    (graph::USER_MEMBER_OF, GRAPH, "graph_member_of_direct_and_transitive_with_paging_select_and_count"),
    (graph::USER_TRANSITIVE_MEMBER_OF, GRAPH, "graph_member_of_direct_and_transitive_with_paging_select_and_count"),
    (graph::LIST_DELETED_USERS, GRAPH, "graph_user_lifecycle_with_soft_delete_and_restore"),
    (graph::RESTORE_DELETED, GRAPH, "graph_user_lifecycle_with_soft_delete_and_restore"),
    (graph::SUBSCRIBED_SKUS, GRAPH, "graph_licenses_seats_groups_and_propagation"),
    (graph::LIST_GROUPS, GRAPH, "graph_group_list_keyset_filter_count_and_refusals"),
    (graph::COUNT_GROUPS, GRAPH, "graph_group_list_keyset_filter_count_and_refusals"),
    (graph::CREATE_GROUP, GRAPH, "graph_groups_members_and_refs"),
    (graph::GET_GROUP, GRAPH, "graph_groups_members_and_refs"),
    (graph::GROUP_MEMBER_OF, GRAPH, "graph_member_of_direct_and_transitive_with_paging_select_and_count"),
    (graph::GROUP_TRANSITIVE_MEMBER_OF, GRAPH, "graph_member_of_direct_and_transitive_with_paging_select_and_count"),
    (graph::LIST_GROUP_MEMBERS, GRAPH, "graph_group_members_transitive_members_and_owners_page_by_id"),
    (graph::LIST_GROUP_TRANSITIVE_MEMBERS, GRAPH, "graph_group_members_transitive_members_and_owners_page_by_id"),
    (graph::LIST_GROUP_OWNERS, GRAPH, "graph_group_members_transitive_members_and_owners_page_by_id"),
    (graph::ADD_GROUP_MEMBER, GRAPH, "graph_groups_members_and_refs"),
    (graph::REMOVE_GROUP_MEMBER, GRAPH, "graph_groups_members_and_refs"),
    (graph::ASSIGN_GROUP_LICENSE, GRAPH, "graph_group_licences_count_violation_until_reprocessed"),
    // Fabric: Microsoft's Fabric CLI (`fab acl`) where it reaches the operation.
    (fabric::LIST_WORKSPACES, FABRIC, "workspaces_list_by_role"),
    (fabric::GET_WORKSPACE, FABRIC, "fabric_errors_are_in_fabric_dialect"),
    (fabric::LIST_WORKSPACE_ROLE_ASSIGNMENTS, FABRIC_CLI, "fab_manages_workspace_access_through_microsofts_host_names"),
    (fabric::LIST_WORKSPACE_ROLE_ASSIGNMENTS, FABRIC, "service_principals_group_and_app_details"),
    (fabric::ADD_WORKSPACE_ROLE_ASSIGNMENT, FABRIC_CLI, "fab_manages_workspace_access_through_microsofts_host_names"),
    (fabric::ADD_WORKSPACE_ROLE_ASSIGNMENT, FABRIC, "role_assignments_written_through_fabric_are_power_bi_roles"),
    (fabric::GET_WORKSPACE_ROLE_ASSIGNMENT, FABRIC, "role_assignments_written_through_fabric_are_power_bi_roles"),
    (fabric::UPDATE_WORKSPACE_ROLE_ASSIGNMENT, FABRIC_CLI, "fab_manages_workspace_access_through_microsofts_host_names"),
    (fabric::UPDATE_WORKSPACE_ROLE_ASSIGNMENT, FABRIC, "role_assignments_written_through_fabric_are_power_bi_roles"),
    (fabric::DELETE_WORKSPACE_ROLE_ASSIGNMENT, FABRIC_CLI, "fab_manages_workspace_access_through_microsofts_host_names"),
    (fabric::DELETE_WORKSPACE_ROLE_ASSIGNMENT, FABRIC, "role_assignments_written_through_fabric_are_power_bi_roles"),
    (fabric::ADMIN_LIST_WORKSPACES, FABRIC, "admin_apis_read_every_workspace_and_grant_temporary_access"),
    (fabric::ADMIN_LIST_WORKSPACE_ACCESS_DETAILS, FABRIC, "admin_apis_read_every_workspace_and_grant_temporary_access"),
    (fabric::ADMIN_LIST_ITEM_ACCESS_DETAILS, FABRIC, "admin_apis_read_every_workspace_and_grant_temporary_access"),
    (fabric::ADMIN_LIST_ACCESS_ENTITIES, FABRIC, "a_users_access_lists_items_in_microsofts_type_order_page_by_page"),
    (fabric::ADMIN_GRANT_ADMIN_TEMPORARY_ACCESS, FABRIC, "admin_apis_read_every_workspace_and_grant_temporary_access"),
    (fabric::ADMIN_REMOVE_ADMIN_TEMPORARY_ACCESS, FABRIC, "admin_apis_read_every_workspace_and_grant_temporary_access"),
];

/// The first witness of `op`, as the matrix prints it: the test's name, then its file.
pub fn witness(op: &Op) -> Option<String> {
    WITNESSES.iter().find(|(o, _, _)| o == op).map(|(_, file, test)| format!("`{test}` in `{file}`"))
}

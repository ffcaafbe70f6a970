//! The lifecycle commands' shared plumbing: output formats, profiles, exit codes.

pub mod access;
pub mod audit;
pub mod commands;
pub mod directory;
pub mod offboard;
pub mod onboard;
pub mod output;
pub mod principals;
pub mod profile;
pub mod progress;
pub mod rehearse;
pub mod review;
pub mod users;

/// Distinct exit codes, so scripts can tell outcomes apart.
pub mod exit {
    /// The service or the network failed.
    pub const FAILURE: u8 = 1;
    /// Bad usage or configuration.
    pub const USAGE: u8 = 2;
    /// Stopped to wait for the admin budget; the journal is saved, run the printed resume command.
    pub const BUDGET: u8 = 3;
    /// The plan's starting state has drifted; make a new plan.
    pub const DRIFT: u8 = 4;
    /// The operator declined the confirmation prompt.
    pub const DECLINED: u8 = 5;
    /// `offboard` left a workspace whose only Admin is the user: run again with `--successor`.
    pub const LAST_ADMIN: u8 = 6;
    /// `offboard` ran every step, but the service still shows access a step should have removed.
    pub const NOT_VERIFIED: u8 = 7;
    /// `review verify`: the export's snapshot or decision log was changed after it was written.
    pub const TAMPERED: u8 = 8;
}

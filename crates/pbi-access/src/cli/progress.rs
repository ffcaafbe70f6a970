//! Progress on long work, for any command: a bar for N steps and a spinner for work of unknown
//! length. Both draw on stderr, and only when stderr is a terminal and the output is not JSON
//! (otherwise they are hidden and cost nothing); `NO_COLOR` gives a template without colour.
//! A wait for budget is always said on stderr, with what it waits for and how long.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::{no_color, Format};

/// Whether progress should be drawn for this output format.
pub fn visible(format: Format) -> bool {
    format != Format::Json && std::io::stderr().is_terminal()
}

fn style(coloured: &str, plain: &str) -> ProgressStyle {
    let template = if no_color() { plain } else { coloured };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A bar for `len` steps; set its message to say what is being done.
pub fn bar(len: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(style("{bar:32.cyan/blue} {pos}/{len} {wide_msg}", "[{bar:32}] {pos}/{len} {wide_msg}").progress_chars("=> "));
    bar
}

/// A spinner with a message, ticking on its own until finished.
pub fn spinner(message: impl Into<String>, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    spinner.set_style(style("{spinner:.cyan} {wide_msg} ({elapsed})", "{spinner} {wide_msg} ({elapsed})"));
    spinner.set_message(message.into());
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// "12 min", "40 s", "2 h 5 min": a wait, for people.
pub fn human(wait: Duration) -> String {
    let secs = wait.as_secs() + u64::from(wait.subsec_millis() > 0);
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600).div_ceil(60)),
    }
}

/// The line said before a wait for budget.
pub fn wait_line(w: &pbi_client::BudgetWait) -> String {
    format!("pbi-access: waiting {} for the {} …", human(w.wait), w.budget)
}

/// For `Ledger::observe_waits`: say each wait on stderr (also off a terminal: a silent wait
/// looks like a hang).
pub fn wait_reporter() -> pbi_client::WaitObserver {
    Arc::new(|w| eprintln!("{}", wait_line(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_counts_but_draws_nothing() {
        let bar = bar(3, false);
        assert!(bar.is_hidden());
        bar.inc(2);
        assert_eq!(bar.position(), 2);
        assert!(spinner("x", false).is_hidden());
        assert!(!visible(Format::Json), "never with JSON output");
    }

    #[test]
    fn waits_say_what_and_how_long() {
        let w = pbi_client::BudgetWait { tenant: "t".into(), budget: "admin budget (200/h)".into(), wait: Duration::from_secs(700) };
        assert_eq!(wait_line(&w), "pbi-access: waiting 12 min for the admin budget (200/h) …");
        assert_eq!(human(Duration::from_millis(40_500)), "41 s");
        assert_eq!(human(Duration::from_secs(7500)), "2 h 5 min");
    }
}

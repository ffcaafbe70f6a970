//! Progress on long work, for any command: a bar for N steps and a spinner for work of unknown
//! length. Both draw on stderr, and only when stderr is a terminal and the output is not JSON
//! (otherwise they are hidden and cost nothing); `NO_COLOR` gives a template without colour.

use std::io::IsTerminal;
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
}

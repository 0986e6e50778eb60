//! Progress for long commands (publishing a folder, export), on stderr and only when
//! it is a terminal: piped or in a script, nothing is drawn and stdout stays clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps, each a `what` (e.g. "files").
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::with_draw_target(Some(len), target());
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{spinner}} [{{bar:30}}] {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left) {{msg}}"
    )) {
        b.set_style(style.progress_chars("=> "));
    }
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

/// A spinner that counts `what` when the total is not known.
pub fn counter(what: &str) -> ProgressBar {
    let b = ProgressBar::with_draw_target(None, target());
    if let Ok(style) =
        ProgressStyle::with_template(&format!("{{spinner}} {{pos}} {what} ({{per_sec}}) {{msg}}"))
    {
        b.set_style(style);
    }
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

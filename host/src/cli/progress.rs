//! Progress of the client's long waits — a component uploading, a deploy the
//! server is compiling — as an indicatif spinner with the elapsed time, on
//! stderr and only when stderr is a terminal: piped output and CI logs get
//! the command's own lines and nothing else.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// A spinner saying what is under way; cleared when dropped.
pub struct Working(ProgressBar);

impl Working {
    /// Start a spinner showing `what` (e.g. "deploying `counter`: the server compiles it").
    pub fn start(what: String) -> Working {
        // indicatif draws nothing on a stderr that is not a terminal
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(what);
        bar.enable_steady_tick(Duration::from_millis(120));
        Working(bar)
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

//! Driving the real `epoch-rfq` binary from a test: its output as a channel of lines, and a
//! bounded wait for its exit.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Forwards `output`'s lines to a channel, echoing each one into the test's output.
pub fn forward_lines(output: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            println!("{line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits up to `limit` for `child` to exit; kills it and fails the test past that.
pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("epoch-rfq did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

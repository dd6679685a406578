//! Runs the demo program on a small log, non-interactively, and checks its
//! final counts exactly: the first 40 lines of the sample, a 404 burst that
//! raises one alert, two malformed lines, and a server error in a second
//! window.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEMO: &str = env!("CARGO_BIN_EXE_plugbus-demo");

/// How long one run of the demo may take (a debug build, loading three
/// libraries, on a busy machine: it usually takes well under a second).
const DEADLINE: Duration = Duration::from_secs(20);

const TAIL: &str = r#"scanner.example - - [22/Apr/2009:18:52:57 +1200] "GET /old-page.html HTTP/1.1" 404 209 "-" "curl/8.0"
scanner.example - - [22/Apr/2009:18:52:57 +1200] "GET /old-page.html HTTP/1.1" 404 209 "-" "curl/8.0"
scanner.example - - [22/Apr/2009:18:52:57 +1200] "GET /old-page.html HTTP/1.1" 404 209 "-" "curl/8.0"
this is not a request
scanner.example - - [22/Apr/2009:18:52:58 +1200] "GET /old-page.html HTTP/1.1" OK 209
10.0.0.1 - - [22/Apr/2009:18:53:05 +1200] "POST /search HTTP/1.1" 500 0 "-" "-"
"#;

/// A directory of this test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("plugbus-demo-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test log: 46 lines, 44 requests.
fn small_log(dir: &TempDir) -> PathBuf {
    let sample = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/access.log"))
        .expect("the sample log");
    let mut text: String = sample.lines().take(40).flat_map(|l| [l, "\n"]).collect();
    text.push_str(TAIL);
    let path = dir.0.join("small.log");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the demo with `args`, failing the test if it takes longer than
/// [`DEADLINE`].
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(DEMO)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let started = Instant::now();
    while child
        .try_wait()
        .expect("the demo can be waited for")
        .is_none()
    {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("plugbus-demo {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("the demo's output")
}

/// The `name=value` lines of `--counts`.
fn counts(output: &Output) -> BTreeMap<String, u64> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.rsplit_once('='))
        .filter_map(|(name, value)| Some((name.to_owned(), value.parse().ok()?)))
        .collect()
}

/// Checks every count the small log gives that does not depend on timing.
fn check(counts: &BTreeMap<String, u64>, plugins: &[&str]) {
    let expected = [
        ("demo.lines", 46),
        ("demo.requests", 44),
        ("demo.malformed", 2),
        ("demo.alerts", u64::from(plugins.contains(&"alerts"))),
        ("status.requests", 44),
        ("status.bytes", 708_886),
        ("status.1xx", 0),
        ("status.2xx", 37),
        ("status.3xx", 3),
        ("status.4xx", 3),
        ("status.5xx", 1),
        ("status.200", 37),
        ("status.302", 3),
        ("status.404", 3),
        ("status.500", 1),
        ("alerts.alerts", 1),
        ("alerts.undelivered", 0),
        ("domains.requests", 44),
        ("domains.lookups", 15),
        ("domains.domain .net", 14),
        ("domains.domain .nz", 14),
        ("domains.domain address", 7),
        ("domains.domain .au", 6),
        ("domains.domain .example", 3),
        ("top.paths", 34),
        ("top.clients", 15),
        ("top.path /gallery.php?section=sport", 3),
        ("top.path /latest.php?category=national", 3),
        ("top.client dhcp-719.bellsouth.net", 13),
        ("top.client proxy-435.dialup.xtra.co.nz", 10),
        ("errors.requests", 44),
        ("errors.errors", 4),
        ("errors.windows", 2),
        ("errors.worst errors", 3),
        ("errors.worst requests", 43),
        ("tail.last line", 46),
    ];
    for (name, value) in expected {
        let (owner, _) = name.split_once('.').unwrap();
        if owner != "demo" && !plugins.contains(&owner) {
            assert_eq!(counts.get(name), None, "{name} without {owner}");
            continue;
        }
        assert_eq!(counts.get(name), Some(&value), "{name}");
    }
    // 44 requests and the final query reach every lane: all of them on the
    // blocking lanes, taken or dropped on tail's lossy one.
    for plugin in plugins {
        let lane = |counter: &str| counts[&format!("lane.{plugin}.{counter}")];
        assert_eq!(lane("panicked"), 0, "{plugin}");
        if *plugin == "tail" {
            assert_eq!(lane("received") + lane("dropped"), 45, "tail");
            assert_eq!(lane("handled"), lane("received"), "tail");
            assert_eq!(counts["tail.seen"] + 1, lane("handled"), "tail");
        } else {
            assert_eq!(
                (lane("received"), lane("handled"), lane("dropped")),
                (45, 45, 0),
                "{plugin}"
            );
        }
    }
    let lanes = counts
        .keys()
        .filter(|k| k.starts_with("lane.") && k.ends_with(".handled"));
    assert_eq!(lanes.count(), plugins.len());
}

const ALL: [&str; 6] = ["status", "alerts", "domains", "top", "errors", "tail"];

#[test]
fn counts_of_a_small_log_with_loaded_plugins() {
    let dir = TempDir::new("loaded");
    let log = small_log(&dir);
    let output = run(&[
        log.to_str().unwrap(),
        "--speed",
        "0",
        "--top",
        "2",
        "--counts",
    ]);
    check(&counts(&output), &ALL);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for plugin in ["top_paths", "error_rate", "tail"] {
        assert!(
            stdout.contains(&format!("plugbus_{plugin}")),
            "{plugin} loaded:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("alert: line 43 at 18:52:57: /old-page.html answered 404 3 times in 60 s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 44: time `a` is not dd/Mon/yyyy:hh:mm:ss +zzzz"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 45: status `OK` is not a number from 100 to 599"),
        "{stdout}"
    );
}

#[test]
fn counts_of_a_small_log_all_linked_in_and_paced() {
    let dir = TempDir::new("static");
    let log = small_log(&dir);
    // 14 s of log at 100x: the pacing is exercised, in well under a second.
    let output = run(&[
        log.to_str().unwrap(),
        "--static",
        "--speed",
        "100",
        "--top",
        "2",
        "--counts",
    ]);
    check(&counts(&output), &ALL);
    assert!(!String::from_utf8_lossy(&output.stdout).contains("loaded `"));
}

#[test]
fn only_the_plugins_chosen_run() {
    let dir = TempDir::new("chosen");
    let log = small_log(&dir);
    let output = run(&[
        log.to_str().unwrap(),
        "--speed=0",
        "--plugins=tail,status",
        "--counts",
    ]);
    check(&counts(&output), &["status", "tail"]);
    let output = run(&[log.to_str().unwrap(), "--speed=0", "--plugins=", "--counts"]);
    check(&counts(&output), &[]);
}

/// Where cargo built the plugins' libraries: `deps/` beside the demo.
fn built(crate_name: &str) -> PathBuf {
    let file = format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    Path::new(DEMO).parent().unwrap().join("deps").join(file)
}

#[test]
fn a_plugin_directory_gives_one_result_per_library() {
    let dir = TempDir::new("dir");
    let log = small_log(&dir);
    let plugins = dir.0.join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let top = plugins.join(built("plugbus_top_paths").file_name().unwrap());
    std::fs::copy(built("plugbus_top_paths"), &top).expect("top's library was built");
    let junk = plugins.join(format!(
        "{}junk{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::write(&junk, "not a library").unwrap();
    std::fs::write(plugins.join("README.txt"), "not a library either").unwrap();
    std::fs::create_dir(plugins.join("sub")).unwrap();
    let output = run(&[
        log.to_str().unwrap(),
        "--speed=0",
        "--top=2",
        "--counts",
        "--plugin-dir",
        plugins.to_str().unwrap(),
    ]);
    let counts = counts(&output);
    check(&counts, &["status", "alerts", "domains", "top"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("loaded `top` from {}", top.display())),
        "{stdout}"
    );
    let skipped: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("skipped "))
        .collect();
    // One result per entry, in file-name order: README.txt, libjunk.so, sub.
    let refused = [plugins.join("README.txt"), junk, plugins.join("sub")];
    assert_eq!(skipped.len(), refused.len(), "{stdout}");
    for (line, path) in skipped.iter().zip(&refused) {
        assert!(
            line.starts_with(&format!("skipped {}: ", path.display())),
            "{stdout}"
        );
    }
}

#[test]
fn bad_input_is_an_error_that_names_it() {
    let output = run(&["/nonexistent/access.log", "--progress", "none"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("plugbus-demo: cannot read /nonexistent/access.log: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let output = run(&["--repeat", "zero"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"zero\"") && stderr.contains("--help"),
        "{stderr}"
    );

    let dir = TempDir::new("empty-dir");
    let output = run(&[
        "--plugin-dir",
        dir.0.to_str().unwrap(),
        "--speed",
        "0",
        "--counts",
    ]);
    let counts = counts(&output);
    assert_eq!(
        counts.get("demo.lines"),
        Some(&1300),
        "an empty plugin directory loads nothing"
    );
    // The three plugins linked in run: status, alerts, domains.
    assert_eq!(counts.keys().filter(|k| k.ends_with(".handled")).count(), 3);
}

#[test]
fn help_lists_the_options() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--speed",
        "--repeat",
        "--plugin-dir",
        "--static",
        "--progress",
        "--counts",
    ] {
        assert!(stdout.contains(option), "{option} in:\n{stdout}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_it_quietly() {
    use std::io::{BufRead, BufReader};

    let mut child = Command::new(DEMO)
        .args(["--speed", "5"]) // 15 s of output if nobody stops it
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "linked `status`\n");
    // The reader is dropped here, like `head -n 1` exiting.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("plugbus-demo went on for {DEADLINE:?} after its reader left");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

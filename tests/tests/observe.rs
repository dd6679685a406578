//! The hosts' logs (and, with `--features metrics`, their metrics) on every
//! std-based host; the loader's logs.

use plugbus_tests::observe;
use plugbus_tests::observe::scenarios;

observe!(threads, plugbus_tests::conformance::Threads);
observe!(smol, plugbus_tests::conformance::Smol);
observe!(tokio_multi_thread, plugbus_tests::conformance::TokioMulti);
observe!(
    tokio_current_thread,
    plugbus_tests::conformance::TokioCurrent
);

#[test]
fn logs_load_and_refusal() {
    let dir = plugbus_tests::dylib::scratch_dir("observe");
    let text = dir.join(plugbus_tests::dylib::library_file_name("not_a_plugin"));
    std::fs::write(&text, "not a library\n").unwrap();
    let library = plugbus_tests::dylib::library("plugbus_concat");
    scenarios::logs_load_and_refusal(&text, &library);
    let _ = std::fs::remove_dir_all(dir);
}

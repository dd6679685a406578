// A reply that borrows a plugin's read-only data would outlive its library.
#[derive(plugbus_core::Fingerprint)]
pub struct Greeting {
    pub text: &'static str,
}

fn main() {}

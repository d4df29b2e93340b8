//! Not yet written: the test comes first.
fn main() {
    std::process::exit(1);
}

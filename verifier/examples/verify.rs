//! Verifies ELF files given on the command line and prints the reports
//! (a development aid; the `nativm verify` command is the user interface).
fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read");
        let report = nativm_verifier::verify(&bytes, &nativm_verifier::Config::default());
        print!("{path}: {}", report.to_text());
    }
}

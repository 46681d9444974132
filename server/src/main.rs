//! The `switchyard` binary.

fn main() {
    eprintln!("switchyard: the server is not built yet; see README.md");
    std::process::exit(1);
}

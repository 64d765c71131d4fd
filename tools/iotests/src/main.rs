//! The `iotests` command (filled in by the CLI issue).

fn main() {
    eprintln!("iotests: the command-line tool is not implemented yet");
    std::process::exit(2);
}

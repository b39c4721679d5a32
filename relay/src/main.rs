//! `hyperwasm-relay`: the native command line (issue 3 adds its subcommands).

fn main() {
    eprintln!("hyperwasm-relay: no subcommands yet");
    std::process::exit(2);
}

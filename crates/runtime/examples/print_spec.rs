//! Prints the config.json wharf would give a container:
//! `print_spec ROOTFS ARG...` (user resolved from ROOTFS/etc/passwd).
//! Handy for running the same bundle with crun or runc by hand.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rootfs = std::path::PathBuf::from(args.next().ok_or("usage: print_spec ROOTFS ARG...")?);
    let user = runtime::resolve_user(&rootfs, "")?;
    let opts = runtime::RunOptions::new("wharf-example-0000", rootfs, args.collect(), user);
    println!("{}", serde_json::to_string_pretty(&runtime::container_spec(&opts)?)?);
    Ok(())
}

//! Links libswscale (FFmpeg's scaler, used by the `showroomscale` element) through pkg-config.

fn main() {
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("6")
        .probe("libswscale")
    {
        panic!("libswscale not found (Debian: apt-get install libswscale-dev, or scripts/deps.sh): {e}");
    }
}

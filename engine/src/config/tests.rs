// figment::Jail closures must return figment::Error, which is large; that is its API.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use super::*;

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/default.toml")
}

/// The shipped `configs/default.toml` documents exactly the built-in defaults: same keys, same
/// values. A key added to `Config` without a line in the file (or the reverse) fails here.
#[test]
fn shipped_file_equals_built_in_defaults() {
    let text = std::fs::read_to_string(shipped()).unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    assert_eq!(file, defaults);
}

#[test]
fn env_overrides_nested_keys_and_cli_wins() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SHOWROOM_HTTP__PORT", "9001");
        jail.set_env("SHOWROOM_ADMIN_KEY", "k123");
        jail.set_env("SHOWROOM_RTMP__PORT", "1999");
        let config = Config::load(
            None,
            &Overrides {
                rtmp_port: Some(2000),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(config.http.port, 9001);
        assert_eq!(config.admin_key.as_deref(), Some("k123"));
        assert_eq!(config.rtmp.port, 2000);
        Ok(())
    });
}

#[test]
fn file_then_env() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("c.toml", "[http]\nport = 7000\n[log]\nformat = \"json\"\n")?;
        jail.set_env("SHOWROOM_LOG__FORMAT", "text");
        let config = Config::load(Some(Path::new("c.toml")), &Overrides::default()).unwrap();
        assert_eq!(config.http.port, 7000);
        assert_eq!(config.log.format, LogFormat::Text);
        Ok(())
    });
}

#[test]
fn unknown_keys_and_missing_files_are_errors() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("c.toml", "[http]\nprot = 7000\n")?;
        let err = Config::load(Some(Path::new("c.toml")), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
        let err = Config::load(Some(Path::new("nope.toml")), &Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Missing(_)));
        Ok(())
    });
}

#[test]
fn abr_ladders_are_checked_at_load() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "c.toml",
            "[abr]\nladder = [{ name = \"hd\", height = 720, bitrate_kbps = 2500, max_fps = 30 }]\n[abr.streams]\nquiet = []\n",
        )?;
        let config = Config::load(Some(Path::new("c.toml")), &Overrides::default()).unwrap();
        assert_eq!(config.abr.ladder_for("any")[0].name, "hd");
        assert!(config.abr.ladder_for("quiet").is_empty());
        jail.create_file(
            "bad.toml",
            "[abr]\nladder = [{ name = \"video\", height = 720, bitrate_kbps = 2500, max_fps = 30 }]\n",
        )?;
        let err = Config::load(Some(Path::new("bad.toml")), &Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Ladder(_)), "{err}");
        Ok(())
    });
}

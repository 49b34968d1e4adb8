//! The deployment files in `deploy/` are what the tests run: the systemd unit is valid (checked
//! with `systemd-analyze verify` where systemd is installed) and starts Gatehouse with nothing
//! but its environment; the nginx configuration has only the values its header names.

use std::path::Path;

const UNIT: &str = include_str!("../../deploy/systemd/gatehouse.service");
const NGINX: &str = include_str!("../../deploy/nginx/gatehouse.conf");
const ENVIRONMENT: &str = include_str!("../../deploy/systemd/gatehouse.env.example");

#[test]
fn the_systemd_unit_is_valid_and_runs_gatehouse_from_its_environment_file() {
    let exec_start = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    assert_eq!(
        exec_start, "/usr/local/bin/gatehouse",
        "settings come from the environment"
    );
    assert!(UNIT.contains("EnvironmentFile=/etc/gatehouse/gatehouse.env"));
    // Every variable of the example environment file is one Gatehouse reads.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--help")
        .output()
        .expect("gatehouse --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for line in ENVIRONMENT
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
    {
        let name = line.split('=').next().unwrap();
        assert!(
            help.contains(&format!("env: {name}")),
            "{name} is not a setting"
        );
    }
    let Ok(verify) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed here: the unit's syntax is not checked");
        return;
    };
    assert!(verify.status.success());
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("gatehouse.service");
    std::fs::write(
        &unit,
        UNIT.replace(
            "ExecStart=/usr/local/bin/gatehouse",
            &format!("ExecStart={}", env!("CARGO_BIN_EXE_gatehouse")),
        ),
    )
    .unwrap();
    let checked = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        checked.status.success() && checked.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn the_nginx_configuration_names_every_value_it_needs() {
    let placeholders: std::collections::BTreeSet<&str> = NGINX
        .split('@')
        .skip(1)
        .step_by(2)
        .filter(|p| {
            p.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert_eq!(
        placeholders.into_iter().collect::<Vec<_>>(),
        [
            "CERTIFICATE",
            "CERTIFICATE_KEY",
            "INSTANCE_1",
            "INSTANCE_2",
            "LISTEN"
        ]
    );
    assert!(NGINX.contains("proxy_set_header X-Forwarded-For $remote_addr;"));
    assert!(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../end2end/global-setup.js"
    ))
    .exists());
}

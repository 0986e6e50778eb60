//! `lgmesh-fuzz TARGET [--seconds N] [--runs N] [--seed N]`, or
//! `lgmesh-fuzz TARGET --replay FILE`: runs one fuzz target (see the crate docs) and
//! writes the first input that panics to `fuzz-crash-TARGET-SEED.bin`.

use std::process::ExitCode;
use std::time::Duration;

use lgmesh_fuzz::{TARGETS, Target, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!(
            "usage: lgmesh-fuzz TARGET [--seconds N] [--runs N] [--seed N] | TARGET --replay FILE\n\
             targets: {}",
            TARGETS.join(", ")
        );
        ExitCode::from(2)
    };
    let Some(name) = args.first() else {
        return usage();
    };
    let Some(target) = Target::new(name) else {
        eprintln!("lgmesh-fuzz: unknown target {name:?}");
        return usage();
    };
    let (mut seconds, mut runs, mut seed, mut replay) = (60u64, u64::MAX, 1u64, None);
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it.next();
        let num = |v: Option<&String>| v.and_then(|s| s.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--seconds", v) if num(v).is_some() => seconds = num(v).unwrap_or(60),
            ("--runs", v) if num(v).is_some() => runs = num(v).unwrap_or(u64::MAX),
            ("--seed", v) if num(v).is_some() => seed = num(v).unwrap_or(1),
            ("--replay", Some(path)) => replay = Some(path.clone()),
            _ => return usage(),
        }
    }
    if let Some(path) = replay {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("lgmesh-fuzz: cannot read {path}: {e}");
                return ExitCode::from(2);
            }
        };
        return match target.run_one(&data) {
            Ok(outcome) => {
                println!("{name}: no panic (outcome {outcome})");
                ExitCode::SUCCESS
            }
            Err(msg) => {
                println!("{name}: panicked: {msg}");
                ExitCode::FAILURE
            }
        };
    }
    let r = run(&target, runs, Duration::from_secs(seconds), seed);
    println!(
        "{name}: {} runs in at most {seconds} s, {} distinct outcomes, corpus {}",
        r.runs, r.outcomes, r.corpus
    );
    match r.crash {
        None => ExitCode::SUCCESS,
        Some((input, msg)) => {
            let file = format!("fuzz-crash-{name}-{seed}.bin");
            let _ = std::fs::write(&file, &input);
            println!(
                "{name}: PANIC: {msg}\n  input written to {file}; replay with --replay {file}"
            );
            ExitCode::FAILURE
        }
    }
}

//! The `mlinfra` binary: parse the command line, dispatch, print errors, exit.
//!
//! Exit codes: 0 success, 1 error, 2 usage error (and `diff --detailed-exitcode` with changes).

use clap::Parser as _;
use mlinfra::cli::{Cli, Command, ModelsCommand, OutputFormat};
use mlinfra::commands::{self, Failure};

/// `--output FILE` where a command writes files with `--out`: say so instead of listing formats.
fn output_is_not_a_file(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidValue {
        return None;
    }
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.as_str(),
        _ => return None,
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.as_str(),
        _ => return None,
    };
    let args: Vec<String> = std::env::args().collect();
    let takes_out = args.iter().any(|a| a == "predict")
        || (args.iter().any(|a| a == "monitor") && args.iter().any(|a| a == "report"));
    (arg.starts_with("--output") && takes_out).then(|| {
        format!(
            "error: `--output` is the format of results on stdout (text, json, html, csv), not a file: `{value}`\nhint: write to a file with `--out {value}`\n"
        )
    })
}

fn main() {
    mlinfra_core::pipeline::CodeVersion::set_git_revision(option_env!("MLINFRA_GIT_REV"));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(message) = output_is_not_a_file(&e) {
                eprint!("{message}");
                std::process::exit(2);
            }
            e.exit()
        }
    };
    // `serve` answers many connections at once: a multi-threaded runtime; the rest: one thread.
    let runtime = if matches!(cli.command, Command::Serve(_)) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let g = &cli.global;
    let html_ok = matches!(
        cli.command,
        Command::Data(_) | Command::Monitor(mlinfra::cli::MonitorCommand::Report(_))
    );
    if g.output == OutputFormat::Html && !html_ok {
        eprintln!(
            "error: `--output html` is for `mlinfra data stats|schema|validate` and `mlinfra monitor report`; use `text` or `json` here"
        );
        std::process::exit(2);
    }
    let audit =
        matches!(&cli.command, Command::Models(m) if matches!(m.command, ModelsCommand::Audit));
    if g.output == OutputFormat::Csv && !audit {
        eprintln!("error: `--output csv` is for `mlinfra models audit`; use `text` or `json` here");
        std::process::exit(2);
    }
    let result: Result<i32, Failure> = runtime.block_on(async {
        match &cli.command {
            Command::Init(a) => commands::init::run(g, a),
            Command::Validate => commands::validate::run(g),
            Command::Diff(a) => commands::diff::run(g, a).await,
            Command::Build(a) => commands::build::run(g, a).await,
            Command::Up(a) => commands::up::run(g, a).await,
            Command::Down(a) => commands::down::run(g, a).await,
            Command::Status => commands::status::run(g).await,
            Command::Outputs(a) => commands::outputs::run(g, a).await,
            Command::Unlock(a) => commands::unlock::run(g, a).await,
            Command::Data(c) => commands::data::run(g, c).await,
            Command::Pipeline(c) => commands::pipeline::run(g, c).await,
            Command::Runs(c) => commands::runs::run(g, c).await,
            Command::Models(a) => commands::models::run(g, a).await,
            Command::Serve(a) => commands::serve::run(g, a).await,
            Command::Predict(a) => commands::predict::run(g, a).await,
            Command::Api(mlinfra::cli::ApiCommand::Spec) => commands::predict::spec(g).await,
            Command::Export(mlinfra::cli::ExportCommand::Arm { out }) => {
                commands::export::arm(g, out.as_deref())
            }
            Command::Export(mlinfra::cli::ExportCommand::Terraform { out }) => {
                commands::export::terraform(g, out.as_deref())
            }
            Command::Retrain(a) => commands::monitor::retrain(g, a).await,
            Command::Invoke(a) => commands::invoke::run(g, a).await,
            Command::Monitor(c) => commands::monitor::run(g, c).await,
            Command::Users(c) => commands::users::run(g, c),
        }
    });
    let code = match result {
        Ok(code) => code,
        Err(f) if g.output == OutputFormat::Json => {
            eprintln!("{}", f.to_json());
            f.exit_code()
        }
        Err(f) => {
            eprint!("{}", f.to_text());
            f.exit_code()
        }
    };
    std::process::exit(code);
}

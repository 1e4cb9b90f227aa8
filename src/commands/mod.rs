//! One module per command; `run` dispatches.

use crate::cli::{ArtifactAction, Command, HookAction};
use crate::ctx::Ctx;
use crate::error::Result;

pub mod apply;
pub mod artifact;
pub mod attempts;
pub mod bench;
pub mod cancel;
pub mod check;
pub mod claim;
pub mod clone;
pub mod completions;
pub mod diff;
pub mod hook;
pub mod ideas;
pub mod init;
pub mod man;
pub mod prepush;
pub mod request;
pub mod review;
pub mod run;
pub mod show;
pub mod status;
pub mod submissions;
pub mod submit;
pub mod tasks;
pub mod whoami;
pub mod work_items;

pub fn run(ctx: &Ctx, command: Command) -> Result<()> {
    match command {
        Command::Tasks(args) => tasks::run(ctx, &args),
        Command::Show(args) => show::run(ctx, &args),
        Command::Clone(args) => clone::run(ctx, &args),
        Command::Init(args) => init::run(ctx, &args),
        Command::Whoami => whoami::run(ctx),
        Command::Claim(args) => claim::run(ctx, &args),
        Command::WorkItems(args) => work_items::run(ctx, &args),
        Command::Ideas(args) => ideas::run(ctx, &args),
        Command::Apply(args) => apply::run(ctx, &args),
        Command::Cancel => cancel::run(ctx),
        Command::Check(args) if args.pre_push => prepush::run(ctx, &args),
        Command::Check(args) => check::run(ctx, &args),
        Command::Diff(args) => diff::run(ctx, &args),
        Command::Bench(args) => bench::run(ctx, &args),
        Command::Submit(args) => submit::run(ctx, &args),
        Command::Status => status::run(ctx),
        Command::Submissions(args) => submissions::run(ctx, &args),
        Command::Request(args) => request::run(ctx, &args),
        Command::Review(args) => review::run(ctx, &args),
        Command::Run(args) => run::run(ctx, &args),
        Command::Attempts(args) => attempts::run(ctx, &args),
        Command::Hook(args) => match args.action {
            HookAction::Install { force, print } => hook::install(ctx, force, print),
            HookAction::Uninstall => hook::uninstall(ctx),
            HookAction::Status => hook::status(ctx),
        },
        Command::Artifact(args) => match args.action {
            ArtifactAction::Hash { file } => artifact::hash(ctx, &file),
            ArtifactAction::Set { uri, file, no_verify, submission_file } => {
                artifact::set(ctx, &uri, file.as_deref(), no_verify, submission_file.as_deref())
            }
            ArtifactAction::Verify { download, submission_file } => {
                artifact::verify(ctx, download, submission_file.as_deref())
            }
        },
        Command::Man(args) => man::run(ctx, &args),
        Command::Completions(args) => completions::run(ctx, &args),
    }
}

//! `taskforge admin …`: operator commands that work without the HTTP API.
use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // subcommands read as verbs: create-user, create-org, create-token
pub enum AdminCommand {
    /// Create a user account.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Read from TASKFORGE_ADMIN_PASSWORD when omitted, to keep it out of shell history.
        #[arg(long, env = "TASKFORGE_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Create an org owned by an existing user.
    CreateOrg {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner_email: String,
    },
    /// Create a personal access token for an existing user and print it once.
    CreateToken {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated: read, write, admin.
        #[arg(long, default_value = "read,write,admin")]
        scopes: String,
    },
    /// Fill the database with one load-test org (users, projects, tasks) and print its ids and token as JSON.
    SeedBench {
        #[arg(long, default_value_t = 50)]
        users: usize,
        #[arg(long, default_value_t = 10)]
        projects: usize,
        #[arg(long, default_value_t = 100_000)]
        tasks: usize,
        /// Activity events spread over the last year, with their daily counters (for the analytics).
        #[arg(long, default_value_t = 0)]
        events: usize,
    },
    /// Recompute every task's copies of its assignee and label ids from the link tables: once after a rolling
    /// upgrade to the release that added them (replicas of the previous release change links without updating the
    /// copies), and after any change made to `task_assignees` or `task_labels` by hand.
    RefreshLinkCopies,
    /// Create the AWS resources the configuration names (every pool's SQS queue and dead-letter queue with its
    /// redrive policy, the SES identity of mail_from, the S3 bucket with default encryption when storage = s3);
    /// present ones are kept. Needs no database.
    AwsBootstrap,
}

/// Runs `admin aws-bootstrap` and prints what it created and what was already there.
pub async fn aws_bootstrap(config: &platform::Config) -> anyhow::Result<()> {
    let done = platform::aws_bootstrap::bootstrap(config).await?;
    for r in &done {
        let what = if r.created { "created" } else { "present" };
        println!("{what:<8} {:<13} {}", r.kind, r.name);
    }
    let created = done.iter().filter(|r| r.created).count();
    println!("{created} created, {} already present", done.len() - created);
    Ok(())
}

pub async fn run(state: &api::AppState, command: AdminCommand) -> anyhow::Result<()> {
    use api::domain::{accounts, orgs};
    match command {
        AdminCommand::CreateUser { email, name, password } => {
            let user = accounts::register(
                state,
                accounts::Registration { email, name, password, time_zone: None, locale: None },
            )
            .await
            .map_err(describe)?;
            println!("created user {} ({})", user.id, user.email);
        }
        AdminCommand::CreateOrg { name, owner_email } => {
            let owner = accounts::find_by_email(&state.db, &owner_email)
                .await
                .map_err(describe)?
                .with_context(|| format!("no user with email {owner_email}"))?;
            let org = orgs::create(&state.db, owner.id, &name).await.map_err(describe)?;
            println!("created org {} ({}) owned by {}", org.org.id, org.org.name, owner.email);
        }
        AdminCommand::CreateToken { email, name, scopes } => {
            let user = accounts::find_by_email(&state.db, &email)
                .await
                .map_err(describe)?
                .with_context(|| format!("no user with email {email}"))?;
            let scopes = scopes.split(',').map(|s| s.trim().to_owned()).collect();
            let (_, secret) =
                accounts::create_token(&state.db, user.id, accounts::NewToken { name, scopes, expires_in_days: None })
                    .await
                    .map_err(describe)?;
            println!("{secret}");
        }
        AdminCommand::SeedBench { users, projects, tasks, events } => {
            let sizes = crate::seed::Sizes { users, projects, tasks, events };
            let summary = crate::seed::seed_bench(&state.db, sizes).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        AdminCommand::RefreshLinkCopies => {
            entities::link_copies::refresh_all(&state.db).await?;
            println!("refreshed the link copies of every task");
        }
        AdminCommand::AwsBootstrap => aws_bootstrap(&state.config).await?,
    }
    Ok(())
}

fn describe(e: api::error::AppError) -> anyhow::Error {
    match e {
        api::error::AppError::Validation(fields) => {
            let list: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            anyhow::anyhow!("invalid input: {}", list.join("; "))
        }
        other => anyhow::anyhow!("{other}"),
    }
}

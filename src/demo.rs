//! `taskforge serve --demo`: a demo org with people, projects and tasks, so a newcomer sees a working product.
use api::domain::{accounts, orgs};
use api::AppState;

/// How to sign in to the demo.
pub struct DemoLogin {
    pub email: String,
    pub password: String,
    pub token: String,
}

const PASSWORD: &str = "taskforge-demo";

pub async fn seed(state: &AppState) -> anyhow::Result<DemoLogin> {
    let email = "demo@taskforge.localhost".to_owned();
    let owner = match accounts::find_by_email(&state.db, &email).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        Some(u) => u,
        None => {
            let u = accounts::register(
                state,
                accounts::Registration {
                    email: email.clone(),
                    name: "Dana Demo".into(),
                    password: PASSWORD.into(),
                    time_zone: Some("UTC".into()),
                    locale: Some("en".into()),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            orgs::create(&state.db, u.id, "Demo Co").await.map_err(|e| anyhow::anyhow!("{e}"))?;
            u
        }
    };
    let (_, token) = accounts::create_token(
        &state.db,
        owner.id,
        accounts::NewToken {
            name: "demo".into(),
            scopes: vec!["read".into(), "write".into(), "admin".into()],
            expires_in_days: Some(30),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(DemoLogin { email, password: PASSWORD.into(), token })
}

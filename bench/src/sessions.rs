//! Signing the bench sessions in over HTTP, with the production Argon2 parameters.

use anyhow::Context;
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::seed;

/// The tokens of one session.
#[derive(Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// Signs in over HTTP (production Argon2), `count` sessions spread over the accounts from `first`.
pub async fn sign_in(base: &str, users: &[seed::SeedUser], first: usize, count: usize) -> anyhow::Result<Vec<Tokens>> {
    let client = reqwest::Client::new();
    let mut set = JoinSet::new();
    let mut out: Vec<Option<Tokens>> = (0..count).map(|_| None).collect();
    for k in 0..count {
        let login = users[(first + k) % users.len()].username.clone();
        let (client, url) = (client.clone(), format!("{base}/api/v1/auth/login"));
        set.spawn(async move {
            let res = client
                .post(url)
                .json(&serde_json::json!({ "login": login, "password": seed::PASSWORD }))
                .send()
                .await?;
            anyhow::ensure!(res.status().is_success(), "signing in {login}: {}", res.status());
            anyhow::Ok((k, res.json::<Tokens>().await?))
        });
        if set.len() >= 4 {
            let (k, t) = set.join_next().await.context("sign-in task")???;
            out[k] = Some(t);
        }
    }
    while let Some(done) = set.join_next().await {
        let (k, t) = done??;
        out[k] = Some(t);
    }
    out.into_iter().collect::<Option<_>>().context("a session is missing")
}

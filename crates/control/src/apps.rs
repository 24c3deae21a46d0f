//! Apps, their credentials, and their authorizations on APIs per stage.

use crate::now_utc;
use crate::ops::{not_found, Control, Result};
use apigw_model::app::{
    validate_app_code, validate_app_key, validate_app_secret, validate_auth_valid_time,
    MAX_CODES_PER_APP,
};
use apigw_model::{App, AppKeyPair, Authorization, ModelError, Stage};
use std::time::Duration;

/// How long the previous secret keeps working after a reset, unless configured otherwise.
pub const DEFAULT_SECRET_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What a caller may choose when creating an app; credentials left out are generated.
#[derive(Debug, Clone, Default)]
pub struct AppSpec {
    pub app_name: String,
    pub description: String,
    pub extend: String,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub app_code: Option<String>,
}

fn random_chars(n: usize, alphabet: &[u8]) -> String {
    crate::random_token(n, alphabet)
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// A new secret: 32 letters and digits (about 190 bits).
pub fn new_secret() -> String {
    random_chars(32, ALNUM)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn repeated(what: &str, value: &str) -> ModelError {
    ModelError::new(
        format!("Repeated{what}"),
        format!("{what} `{value}` is already in use"),
    )
}

/// A grant made now; an empty `valid_until` means none.
pub(crate) fn new_grant(
    app_id: i64,
    api_id: &str,
    group_id: &str,
    stage: Stage,
    valid_until: Option<&str>,
    description: &str,
) -> Result<Authorization> {
    let valid_until = valid_until.filter(|v| !v.trim().is_empty());
    if let Some(v) = valid_until {
        validate_auth_valid_time(v)?;
    }
    Ok(Authorization {
        app_id,
        api_id: api_id.to_string(),
        group_id: group_id.to_string(),
        stage_name: stage,
        auth_valid_time: valid_until.map(|v| v.trim().to_string()),
        description: description.to_string(),
        authorized_time: now_utc(),
    })
}

impl Control {
    /// The acting account's apps.
    pub async fn apps(&self) -> Result<Vec<App>> {
        let mut all = self.store.list_apps().await?;
        all.retain(|a| a.owner_id == self.account);
        Ok(all)
    }

    /// An app of the acting account (`ForbiddenApp` for another account's).
    pub async fn app(&self, app_id: i64) -> Result<App> {
        let app = self.any_app(app_id).await?;
        self.check_owner("App", &app_id.to_string(), app.owner_id)?;
        Ok(app)
    }

    /// An app of any account: apps may be authorized on other accounts' APIs by AppId.
    pub async fn any_app(&self, app_id: i64) -> Result<App> {
        self.store
            .get_app(app_id)
            .await?
            .ok_or_else(|| not_found("App", &app_id.to_string()))
    }

    pub async fn app_by_name(&self, name: &str) -> Result<Option<App>> {
        Ok(self.apps().await?.into_iter().find(|a| a.app_name == name))
    }

    /// Refuses an AppKey or AppCode another app already uses, or an AppName another app of
    /// the same account uses.
    pub(crate) fn check_unique(all: &[App], app: &App) -> Result<()> {
        for other in all.iter().filter(|o| o.app_id != app.app_id) {
            if other.app_name == app.app_name && other.owner_id == app.owner_id {
                return Err(repeated("AppName", &app.app_name).into());
            }
            for k in &app.keys {
                if other.keys.iter().any(|o| o.app_key == k.app_key) {
                    return Err(repeated("AppKey", &k.app_key).into());
                }
            }
            for c in &app.app_codes {
                if other.app_codes.contains(c) {
                    return Err(repeated("AppCode", c).into());
                }
            }
        }
        Ok(())
    }

    /// Creates an app with one AppKey/AppSecret pair and one AppCode.
    pub async fn create_app(&self, spec: AppSpec) -> Result<App> {
        let _w = self.write_lock.lock().await?;
        let app = self.new_app(&self.store.list_apps().await?, spec)?;
        self.store.put_app(&app).await?;
        self.publish().await;
        Ok(app)
    }

    /// A new app of the acting account, checked against `all` (every stored app).
    pub(crate) fn new_app(&self, all: &[App], spec: AppSpec) -> Result<App> {
        let mut app_id = fastrand::i64(1_000_000_000..100_000_000_000);
        while all.iter().any(|a| a.app_id == app_id) {
            app_id = fastrand::i64(1_000_000_000..100_000_000_000);
        }
        let taken_key = |k: &str| all.iter().any(|a| a.keys.iter().any(|p| p.app_key == k));
        let app_key = match spec.app_key {
            Some(k) => k,
            None => loop {
                let k = fastrand::u32(200_000_000..999_999_999).to_string();
                if !taken_key(&k) {
                    break k;
                }
            },
        };
        let now = now_utc();
        let app = App {
            app_id,
            app_name: spec.app_name,
            owner_id: self.account,
            description: spec.description,
            extend: spec.extend,
            disabled: false,
            keys: vec![AppKeyPair {
                app_key,
                app_secret: spec.app_secret.unwrap_or_else(new_secret),
                previous_secret: None,
                previous_secret_valid_until: None,
            }],
            app_codes: vec![spec.app_code.unwrap_or_else(|| random_chars(32, HEX))],
            created_time: now.clone(),
            modified_time: now,
        };
        app.validate()?;
        Self::check_unique(all, &app)?;
        Ok(app)
    }

    /// Replaces an app's name, description, extension text and disabled flag.
    pub async fn modify_app(
        &self,
        app_id: i64,
        name: &str,
        description: &str,
        extend: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<App> {
        let _w = self.write_lock.lock().await?;
        let mut app = self.app(app_id).await?;
        app.app_name = name.to_string();
        app.description = description.to_string();
        if let Some(e) = extend {
            app.extend = e.to_string();
        }
        if let Some(d) = disabled {
            app.disabled = d;
        }
        app.modified_time = now_utc();
        app.validate()?;
        Self::check_unique(&self.store.list_apps().await?, &app)?;
        self.store.put_app(&app).await?;
        self.publish().await;
        Ok(app)
    }

    /// Deletes an app and its authorizations.
    pub async fn delete_app(&self, app_id: i64) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.app(app_id).await?;
        self.store.delete_app(app_id).await?;
        self.publish().await;
        Ok(())
    }

    /// Rotates the secret of `app_key`. The previous secret keeps working for the configured
    /// grace period, so callers can roll over without failed requests. Returns the new pair.
    pub async fn reset_app_secret(
        &self,
        app_key: &str,
        chosen_secret: Option<String>,
    ) -> Result<AppKeyPair> {
        let _w = self.write_lock.lock().await?;
        let mut app = self
            .store
            .list_apps()
            .await?
            .into_iter()
            .find(|a| a.keys.iter().any(|k| k.app_key == app_key))
            .ok_or_else(|| not_found("AppKey", app_key))?;
        self.check_owner("App", &app.app_id.to_string(), app.owner_id)?;
        let secret = chosen_secret.unwrap_or_else(new_secret);
        validate_app_secret(&secret)?;
        let grace = self.secret_grace.as_millis() as i64;
        let pair = app
            .keys
            .iter_mut()
            .find(|k| k.app_key == app_key)
            .expect("found above");
        let old = std::mem::replace(&mut pair.app_secret, secret);
        pair.previous_secret = (grace > 0).then_some(old);
        pair.previous_secret_valid_until = (grace > 0).then(|| now_ms() + grace);
        let pair = pair.clone();
        app.modified_time = now_utc();
        self.store.put_app(&app).await?;
        self.publish().await;
        Ok(pair)
    }

    /// Adds an AppCode (generated when `code` is None) to an app.
    pub async fn create_app_code(&self, app_id: i64, code: Option<String>) -> Result<String> {
        let _w = self.write_lock.lock().await?;
        let mut app = self.app(app_id).await?;
        if app.app_codes.len() >= MAX_CODES_PER_APP {
            return Err(ModelError::new(
                "AppCodeLimitExceeded",
                format!("an app holds at most {MAX_CODES_PER_APP} AppCodes"),
            )
            .into());
        }
        let code = code.unwrap_or_else(|| random_chars(32, HEX));
        validate_app_code(&code)?;
        app.app_codes.push(code.clone());
        Self::check_unique(&self.store.list_apps().await?, &app)?;
        app.modified_time = now_utc();
        self.store.put_app(&app).await?;
        self.publish().await;
        Ok(code)
    }

    /// Replaces an app's credentials with exactly these (the declarative file's view). An
    /// AppKey whose secret changes is rotated with the grace period, as by a reset.
    pub async fn set_app_credentials(
        &self,
        app_id: i64,
        keys: &[(String, String)],
        codes: &[String],
    ) -> Result<App> {
        let _w = self.write_lock.lock().await?;
        let app = self.app(app_id).await?;
        let app = self.with_credentials(app, keys, codes)?;
        Self::check_unique(&self.store.list_apps().await?, &app)?;
        self.store.put_app(&app).await?;
        self.publish().await;
        Ok(app)
    }

    /// `app` holding exactly these credentials; an AppKey whose secret changes keeps the old
    /// secret for the grace period. Uniqueness is the caller's check.
    pub(crate) fn with_credentials(
        &self,
        mut app: App,
        keys: &[(String, String)],
        codes: &[String],
    ) -> Result<App> {
        let grace = self.secret_grace.as_millis() as i64;
        let mut pairs = Vec::new();
        for (key, secret) in keys {
            validate_app_key(key)?;
            validate_app_secret(secret)?;
            let pair = match app.keys.iter().find(|k| &k.app_key == key) {
                Some(old) if &old.app_secret == secret => old.clone(),
                Some(old) => AppKeyPair {
                    app_key: key.clone(),
                    app_secret: secret.clone(),
                    previous_secret: (grace > 0).then(|| old.app_secret.clone()),
                    previous_secret_valid_until: (grace > 0).then(|| now_ms() + grace),
                },
                None => AppKeyPair {
                    app_key: key.clone(),
                    app_secret: secret.clone(),
                    previous_secret: None,
                    previous_secret_valid_until: None,
                },
            };
            pairs.push(pair);
        }
        app.keys = pairs;
        app.app_codes = codes.to_vec();
        app.modified_time = now_utc();
        app.validate()?;
        Ok(app)
    }

    /// Grants `app_id` the right to call `api_id` in `stage`, until `valid_until`
    /// (`YYYY-MM-DDThh:mm:ssZ`) when given. Granting again updates expiry and description.
    pub async fn authorize(
        &self,
        app_id: i64,
        api_id: &str,
        stage: Stage,
        valid_until: Option<&str>,
        description: &str,
    ) -> Result<Authorization> {
        let _w = self.write_lock.lock().await?;
        self.any_app(app_id).await?;
        let api = self.api(api_id).await?;
        let grant = new_grant(
            app_id,
            &api.api_id,
            &api.group_id,
            stage,
            valid_until,
            description,
        )?;
        self.store.put_authorization(&grant).await?;
        self.publish().await;
        Ok(grant)
    }

    /// Revokes a grant. `NotFoundAuthorization` when there was none.
    pub async fn revoke(&self, app_id: i64, api_id: &str, stage: Stage) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.api(api_id).await?;
        if !self
            .store
            .delete_authorization(app_id, api_id, stage)
            .await?
        {
            return Err(not_found(
                "Authorization",
                &format!("app {app_id} on API {api_id} in {stage}"),
            ));
        }
        self.publish().await;
        Ok(())
    }

    /// Grants on the acting account's APIs, or held by its apps.
    pub async fn authorizations(&self) -> Result<Vec<Authorization>> {
        let groups: Vec<String> = self
            .groups()
            .await?
            .into_iter()
            .map(|g| g.group_id)
            .collect();
        let apps: Vec<i64> = self.apps().await?.into_iter().map(|a| a.app_id).collect();
        let mut all = self.store.list_authorizations().await?;
        all.retain(|g| groups.contains(&g.group_id) || apps.contains(&g.app_id));
        Ok(all)
    }
}

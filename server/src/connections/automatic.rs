//! "Set up automatically": the directory's admin signs in once with a device code, and
//! Gatehouse creates the app registration itself through Microsoft Graph — the application
//! (tagged as Gatehouse's, this directory only, its addresses and optional claims, exactly the
//! permissions it is granted), its service principal, a certificate Gatehouse generates, admin
//! consent for `openid profile email User.Read` and, when the admin ticks it, `User.Read.All`
//! for the directory picker — then saves the draft and verifies it like the manual path.
//!
//! The instance that starts a setup drives it; its progress is in the database, so that any
//! instance shows it and records the admin's answer. The admin's token lives in the driving
//! task's memory only: never stored, never logged, dropped at the end or after 15 minutes.

use super::{
    certificate_context, load, store_draft, verify_draft, ConnectionConfig, ConnectionError,
    ConnectionResult, ConnectionServices, Loaded, StoredCertificate, StoredConnectionError,
};
use crate::clock::to_millis;
use crate::config::SetupClients;
use crate::crypto::certificates;
use crate::domain::{Domain, Guid};
use crate::entra::device_code::{self, DeviceCode, Poll, SignedInAdmin};
use crate::entra::registrations::{
    Application, Graph, NewApplication, RegistrationError, DELEGATED_SCOPES, GRAPH_APP_ID,
    USER_READ_ALL_ROLE,
};
use crate::storage::{Actor, AuditEntry, OrganizationRecord};
use app::types::{
    AutomaticSetupStage, AutomaticSetupView, Cloud, ConfirmAutomaticSetupRequest, Protocol,
    SetupDirectoryView, SetupStepView, StartAutomaticSetupRequest, VersionRequest,
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// The admin's token is dropped this long after it arrives, whatever happens.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How long Entra's replication delay is waited out before a "does not exist" is a failure.
const REPLICATION_PATIENCE: Duration = Duration::from_secs(180);
/// A setup whose driving instance has not written for this long has stopped (a restart).
const STALE_AFTER_MILLIS: i64 = 60_000;

/// The delegated permissions the setup client asks for: `AppRoleAssignment.ReadWrite.All`
/// only when the app is to get `User.Read.All`.
pub fn setup_scopes(graph_resource: &str, directory_picker: bool) -> Vec<String> {
    let mut scopes = vec!["openid".to_string(), "profile".to_string()];
    let mut graph = vec![
        "User.Read",
        "Application.ReadWrite.All",
        "DelegatedPermissionGrant.ReadWrite.All",
    ];
    if directory_picker {
        graph.push("AppRoleAssignment.ReadWrite.All");
    }
    scopes.extend(graph.into_iter().map(|p| format!("{graph_resource}/{p}")));
    scopes
}

/// The tag on the app registration that marks it as this organization's, from Gatehouse.
pub fn tag(organization_id: &str) -> String {
    format!("gatehouse-organization:{organization_id}")
}

/// What is kept of a setup (JSON in `connection_setup.progress`): no secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    stage: AutomaticSetupStage,
    cloud: Cloud,
    authority_host: String,
    tenant: String,
    directory_picker: bool,
    user_code: Option<String>,
    verification_uri: Option<String>,
    /// Unix milliseconds.
    code_expires_at: Option<i64>,
    message: Option<String>,
    directory: Option<SetupDirectoryView>,
    steps: Vec<SetupStepView>,
    leftovers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Decision {
    proceed: bool,
    remove_setup_access: bool,
}

/// A setup that has its device code, for the task that drives it.
pub struct Started {
    id: String,
    setup_client: String,
    device: DeviceCode,
    progress: Progress,
}

impl Started {
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ConnectionError {
    ConnectionError::field(field, message)
}

/// Asks the directory for a device code and records the new setup; the caller then runs
/// [`drive`] in the background.
pub async fn start(
    services: &ConnectionServices<'_>,
    setup_clients: &SetupClients,
    org: &OrganizationRecord,
    request: &StartAutomaticSetupRequest,
) -> ConnectionResult<Started> {
    let Some(setup_client) = setup_clients.of(request.cloud) else {
        return Err(invalid(
            "automatic",
            "Automatic setup is not available for this cloud: the operator has not registered Gatehouse's setup client there. Set up manually instead.",
        ));
    };
    let authority_host = match services.allowed_authorities.entra_authority(request.cloud) {
        Some(host) => host,
        None => services
            .allowed_authorities
            .authority(&request.authority_host)
            .map_err(|e| invalid("authority_host", e))?,
    };
    let tenant_input = request.tenant.trim();
    let tenant = if tenant_input.is_empty() {
        "organizations".to_string()
    } else if let Ok(guid) = Guid::parse(tenant_input) {
        guid.0
    } else {
        Domain::parse(tenant_input)
            .map_err(|e| {
                invalid(
                    "tenant",
                    format!("Enter the directory's domain (such as contoso.com) or its Directory (tenant) ID, or leave it empty. {e}"),
                )
            })?
            .0
    };
    let graph_base = services
        .allowed_authorities
        .graph_base(request.cloud, &authority_host);
    let resource = graph_resource(request.cloud, &graph_base);
    let device = device_code::start(
        services.http,
        &authority_host,
        &tenant,
        setup_client,
        &setup_scopes(&resource, request.directory_picker),
    )
    .await
    .map_err(|e| match e {
        device_code::DeviceCodeError::Refused(description) => invalid(
            "tenant",
            match crate::entra::aadsts::code_of(&description).as_deref() {
                Some("90002") => format!("No directory {tenant_input} was found in this cloud. Check the domain or ID, or leave it empty."),
                _ => format!("Entra refused to start the sign-in: {description}"),
            },
        ),
        other => invalid("automatic", other.to_string()),
    })?;
    let now = services.now();
    let progress = Progress {
        stage: AutomaticSetupStage::SignIn,
        cloud: request.cloud,
        authority_host,
        tenant,
        directory_picker: request.directory_picker,
        user_code: Some(device.user_code.clone()),
        verification_uri: Some(device.verification_uri.clone()),
        code_expires_at: Some(to_millis(now) + 1000 * device.expires_in as i64),
        message: None,
        directory: None,
        steps: Vec::new(),
        leftovers: Vec::new(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    services
        .storage
        .start_connection_setup(&org.id, &id, &to_json(&progress)?, now)
        .await?;
    Ok(Started {
        id,
        setup_client: setup_client.to_string(),
        device,
        progress,
    })
}

/// Microsoft Graph's resource URI for scopes: the real Graph host of the cloud (a local
/// stand-in's tokens name the global one).
fn graph_resource(cloud: Cloud, graph_base: &str) -> String {
    match cloud {
        Cloud::UsGovernment | Cloud::China => graph_base.to_string(),
        Cloud::Global | Cloud::Custom => "https://graph.microsoft.com".to_string(),
    }
}

fn to_json(progress: &Progress) -> Result<String, StoredConnectionError> {
    Ok(serde_json::to_string(progress)?)
}

/// The admin's answer as stored: the `Decision` the driving task reads back.
fn decision_json(
    proceed: bool,
    remove_setup_access: bool,
) -> Result<String, StoredConnectionError> {
    Ok(serde_json::to_string(&Decision {
        proceed,
        remove_setup_access,
    })?)
}

/// The organization's latest setup as the wizard shows it.
pub async fn read(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
) -> ConnectionResult<Option<AutomaticSetupView>> {
    let Some(record) = services.storage.find_connection_setup(&org.id).await? else {
        return Ok(None);
    };
    let mut progress: Progress =
        serde_json::from_str(&record.progress).map_err(StoredConnectionError::Unreadable)?;
    let now = to_millis(services.now());
    if is_running(progress.stage) && now - record.heartbeat_at > STALE_AFTER_MILLIS {
        progress.stage = AutomaticSetupStage::Failed;
        progress.message = Some("Gatehouse stopped during the setup (it restarted). Nothing was left half-made that it knows of: start again, or set up manually.".into());
    }
    Ok(Some(view(&record.id, &progress, now)))
}

/// Whether the organization's latest setup is still under way.
pub async fn running(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
) -> ConnectionResult<bool> {
    Ok(read(services, org)
        .await?
        .is_some_and(|s| is_running(s.stage)))
}

fn is_running(stage: AutomaticSetupStage) -> bool {
    matches!(
        stage,
        AutomaticSetupStage::SignIn | AutomaticSetupStage::Confirm | AutomaticSetupStage::Working
    )
}

fn view(id: &str, progress: &Progress, now: i64) -> AutomaticSetupView {
    let signing_in = progress.stage == AutomaticSetupStage::SignIn;
    AutomaticSetupView {
        id: id.to_string(),
        stage: progress.stage,
        user_code: progress.user_code.clone().filter(|_| signing_in),
        verification_uri: progress.verification_uri.clone().filter(|_| signing_in),
        code_expires_at: progress
            .code_expires_at
            .filter(|_| signing_in)
            .map(crate::clock::from_millis)
            .and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
        code_seconds_left: progress
            .code_expires_at
            .filter(|_| signing_in)
            .map(|at| ((at - now) / 1000).max(0)),
        message: progress.message.clone(),
        directory: progress.directory.clone(),
        steps: progress.steps.clone(),
        leftovers: progress.leftovers.clone(),
        directory_picker: progress.directory_picker,
    }
}

/// Records the admin's answer to "create it in this directory?".
pub async fn confirm(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &ConfirmAutomaticSetupRequest,
) -> ConnectionResult<Option<AutomaticSetupView>> {
    let current = read(services, org).await?;
    if current.as_ref().map(|s| (s.id.as_str(), s.stage))
        != Some((request.id.as_str(), AutomaticSetupStage::Confirm))
    {
        return Err(invalid(
            "confirm",
            "This setup is not waiting for your answer any more: start again.",
        ));
    }
    let decision = decision_json(request.proceed, request.remove_setup_access)?;
    services
        .storage
        .decide_connection_setup(&org.id, &request.id, &decision)
        .await?;
    read(services, org).await
}

/// Stops a setup that is waiting for the sign-in.
pub async fn cancel(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    id: &str,
) -> ConnectionResult<Option<AutomaticSetupView>> {
    let decision = decision_json(false, false)?;
    services
        .storage
        .decide_connection_setup(&org.id, id, &decision)
        .await?;
    read(services, org).await
}

/// Why a setup stopped: words for the admin, and what is left in the directory.
struct Stopped {
    stage: AutomaticSetupStage,
    message: String,
}

fn failed(message: impl Into<String>) -> Stopped {
    Stopped {
        stage: AutomaticSetupStage::Failed,
        message: message.into(),
    }
}

/// One setup, driven by the instance that started it.
struct Run<'s, 'a> {
    services: &'s ConnectionServices<'a>,
    org: &'s OrganizationRecord,
    id: String,
    progress: Progress,
}

impl Run<'_, '_> {
    /// Writes the progress; `Err` when the setup was replaced by another.
    async fn save(&mut self) -> Result<(), Stopped> {
        let written = match to_json(&self.progress) {
            Ok(json) => self
                .services
                .storage
                .write_connection_setup(&self.org.id, &self.id, &json, self.services.now())
                .await
                .map_err(StoredConnectionError::from),
            Err(e) => Err(e),
        };
        match written {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stopped {
                stage: AutomaticSetupStage::Cancelled,
                message: "Another setup started in its place.".into(),
            }),
            Err(e) => {
                tracing::warn!(organization = %self.org.id, error = %e, "recording the setup's progress failed");
                Ok(())
            }
        }
    }

    async fn decision(&self) -> Option<Decision> {
        let record = self
            .services
            .storage
            .find_connection_setup(&self.org.id)
            .await
            .ok()??;
        if record.id != self.id {
            return Some(Decision {
                proceed: false,
                remove_setup_access: false,
            });
        }
        serde_json::from_str(record.decision.as_deref()?).ok()
    }

    async fn step(&mut self, label: impl Into<String>) -> Result<(), Stopped> {
        self.progress.steps.push(SetupStepView {
            label: label.into(),
            done: false,
        });
        self.save().await
    }

    async fn step_done(&mut self) -> Result<(), Stopped> {
        if let Some(last) = self.progress.steps.last_mut() {
            last.done = true;
        }
        self.save().await
    }
}

/// Drives a started setup to its end: waits for the sign-in, asks the admin to confirm the
/// directory, creates the app registration, saves and verifies the draft.
pub async fn drive(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    started: Started,
    actor: &Actor,
) {
    let Started {
        id,
        setup_client,
        device,
        progress,
    } = started;
    let mut run = Run {
        services,
        org,
        id,
        progress,
    };
    let outcome = match tokio::time::timeout(
        TOKEN_LIFETIME,
        drive_steps(&mut run, &setup_client, &device, actor),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(failed(
            "The setup took longer than 15 minutes, so Gatehouse let go of your sign-in. Start again, or set up manually.",
        )),
    };
    match outcome {
        Ok(()) => {
            run.progress.stage = AutomaticSetupStage::Done;
            run.progress.message = Some(
                "The app registration is ready and the draft uses it. Run the test sign-in, then activate."
                    .into(),
            );
        }
        Err(stopped) => {
            run.progress.stage = stopped.stage;
            run.progress.message = Some(stopped.message);
        }
    }
    run.progress.user_code = None;
    run.progress.verification_uri = None;
    let _ = run.save().await;
    let outcome = format!("{:?}", run.progress.stage).to_lowercase();
    let entry = AuditEntry {
        outcome: if run.progress.stage == AutomaticSetupStage::Done {
            "success"
        } else {
            "failure"
        },
        detail: &outcome,
        ..AuditEntry::success(Some(&org.id), "connection.automatic_setup", &org.slug)
    };
    if let Err(e) = services
        .storage
        .record_audit(actor, &entry, services.now())
        .await
    {
        tracing::warn!(organization = %org.id, error = %e, "auditing the automatic setup failed");
    }
}

async fn drive_steps(
    run: &mut Run<'_, '_>,
    setup_client: &str,
    device: &DeviceCode,
    actor: &Actor,
) -> Result<(), Stopped> {
    let admin = wait_for_sign_in(run, setup_client, device).await?;
    let graph_base = run
        .services
        .allowed_authorities
        .graph_base(run.progress.cloud, &run.progress.authority_host);
    let graph = Graph {
        http: run.services.http,
        base: &graph_base,
        token: admin.token.bearer(),
    };
    let organization = graph.organization().await.map_err(|e| {
        failed(format!(
            "Gatehouse could not read your directory through Microsoft Graph: {e}. Start again, or set up manually."
        ))
    })?;
    run.progress.stage = AutomaticSetupStage::Confirm;
    run.progress.directory = Some(SetupDirectoryView {
        tenant_id: admin.tenant_id.clone(),
        name: organization.display_name.clone(),
        domains: organization.domains.clone(),
        admin: admin.username.clone(),
    });
    run.progress.message = None;
    run.save().await?;
    let decision = loop {
        if let Some(decision) = run.decision().await {
            break decision;
        }
        run.save().await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if !decision.proceed {
        return Err(Stopped {
            stage: AutomaticSetupStage::Cancelled,
            message: "Stopped: nothing was created in the directory.".into(),
        });
    }
    run.progress.stage = AutomaticSetupStage::Working;
    run.save().await?;
    create(
        run,
        &graph,
        &admin,
        setup_client,
        decision.remove_setup_access,
        actor,
    )
    .await
}

/// Polls the token endpoint at the interval Entra asks until the admin has signed in.
async fn wait_for_sign_in(
    run: &mut Run<'_, '_>,
    setup_client: &str,
    device: &DeviceCode,
) -> Result<SignedInAdmin, Stopped> {
    let mut interval = device.interval.max(1);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if run.decision().await.is_some() {
            return Err(Stopped {
                stage: AutomaticSetupStage::Cancelled,
                message: "Stopped before the sign-in finished: nothing was created.".into(),
            });
        }
        let polled = device_code::poll(
            run.services.http,
            &run.progress.authority_host,
            &run.progress.tenant,
            setup_client,
            &device.device_code,
        )
        .await;
        match polled {
            Ok(Poll::SignedIn(admin)) => return Ok(admin),
            Ok(Poll::Pending) => {}
            Ok(Poll::SlowDown) => {
                interval += 5;
                run.progress.message = Some("Microsoft asked Gatehouse to check less often; still waiting for your sign-in.".into());
            }
            Ok(Poll::Declined) => return Err(failed("The sign-in was declined at Microsoft's page, so nothing was created. Start again and choose Continue when Microsoft asks, or set up manually.")),
            Ok(Poll::BadCode) => return Err(failed("Microsoft no longer recognizes this code. Start again for a new one.")),
            Ok(Poll::Expired) => return Err(failed("The code expired before the sign-in finished (a code lasts 15 minutes). Start again for a new one.")),
            Ok(Poll::Refused(description)) => return Err(failed(refusal(&description))),
            Err(e) => {
                run.progress.message = Some(format!("{e}; Gatehouse keeps trying."));
            }
        }
        run.save().await?;
    }
}

/// What to do when Entra refused the admin's sign-in.
fn refusal(description: &str) -> String {
    match crate::entra::aadsts::code_of(description).as_deref() {
        Some("53003") => "A Conditional Access policy in your directory blocks sign-ins with a device code, so Gatehouse cannot set up automatically. Ask the admin of your Conditional Access policies to allow the device code flow for this sign-in (the policy's Authentication flows condition), or set up manually.".into(),
        Some("65001") | Some("90094") | Some("90095") => "Your directory requires an administrator's approval for Gatehouse's setup permissions. Sign in with a Global Administrator (or an Application Administrator), or set up manually.".into(),
        Some("50076") | Some("50079") => "Your directory requires multi-factor authentication: finish it at Microsoft's page, then start again.".into(),
        _ => format!("Microsoft refused the sign-in: {description} Start again, or set up manually."),
    }
}

/// Retries `call` while its failure may be Entra's replication delay, backing off from one
/// second up to 20, for a few minutes, writing the setup's heartbeat meanwhile.
async fn replicated<T, F, Fut>(run: &mut Run<'_, '_>, mut call: F) -> Result<T, RegistrationError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RegistrationError>>,
{
    let started = std::time::Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        match call().await {
            Err(e) if e.may_be_replication() && started.elapsed() < REPLICATION_PATIENCE => {
                // Still alive: the other instances keep showing the setup as working.
                let _ = run.save().await;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(20));
            }
            other => return other,
        }
    }
}

/// The application Gatehouse made before for this organization: by its stored object id,
/// else by its tag.
async fn made_before(
    graph: &Graph<'_>,
    stored_object_id: Option<&str>,
    tag: &str,
) -> Result<Option<Application>, RegistrationError> {
    if let Some(id) = stored_object_id {
        if let Some(app) = graph.application_tagged(id, tag).await? {
            return Ok(Some(app));
        }
    }
    Ok(graph.applications_tagged(tag).await?.into_iter().next())
}

fn denied_message(step: &str, error: &RegistrationError) -> String {
    match error {
        RegistrationError::Denied(_) if step == "application" => "Your account may not create app registrations in this directory. Start again signed in as a Global Administrator, Application Administrator or Cloud Application Administrator, or set up manually.".into(),
        RegistrationError::Denied(_) => "Your account may create the app but not grant admin consent for everyone: that needs a Global Administrator or Privileged Role Administrator. Start again signed in as one, or set up manually and ask one to choose Grant admin consent.".into(),
        other => format!("Microsoft Graph refused: {other}. Start again, or set up manually."),
    }
}

async fn create(
    run: &mut Run<'_, '_>,
    graph: &Graph<'_>,
    admin: &SignedInAdmin,
    setup_client: &str,
    remove_setup_access: bool,
    actor: &Actor,
) -> Result<(), Stopped> {
    let services = run.services;
    let org = run.org;
    let Loaded { draft, record } = load(services.storage, org)
        .await
        .map_err(|e| failed(format!("Gatehouse could not read the connection: {e}")))?;
    let tag = tag(&org.id);
    let display_name = format!("Gatehouse SSO for {}", org.name);
    let urls = super::entra_urls(services.public_url, &org.slug);
    let new = NewApplication {
        display_name: &display_name,
        tag: &tag,
        redirect_uri: &urls.redirect_uri,
        home_page_url: &urls.home_page_url,
        logout_url: &urls.logout_url,
        directory_picker: run.progress.directory_picker,
    };

    // The certificate the app authenticates with.
    let common_name = format!("Gatehouse for {}", org.name);
    let now = services.now();
    let made = tokio::task::spawn_blocking(move || certificates::make(&common_name, now))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(format!("Gatehouse could not make its certificate: {e}")))?;
    let der_base64 = base64::engine::general_purpose::STANDARD.encode(&made.certificate_der);

    let active = record
        .as_ref()
        .and_then(|r| r.active_config.as_deref())
        .and_then(|json| super::parse_active(json).ok());
    let stored_object_id = draft.application_object_id.clone().or_else(|| {
        active
            .as_ref()
            .and_then(|c| c.application_object_id.clone())
    });
    let before = made_before(graph, stored_object_id.as_deref(), &tag)
        .await
        .map_err(|e| failed(denied_message("application", &e)))?;
    let created_now = before.is_none();
    let app = match before {
        Some(app) => {
            run.step(format!(
                "Update the app registration “{display_name}” Gatehouse made before"
            ))
            .await?;
            // The certificate the active connection signs in with keeps working until the
            // admin activates the new draft.
            let serving = active
                .as_ref()
                .filter(|c| c.client_id.as_deref() == Some(app.app_id.as_str()))
                .and_then(|c| c.certificate.as_ref())
                .map(|c| c.certificate_der_base64.as_str());
            let certificates: Vec<&str> = std::iter::once(der_base64.as_str())
                .chain(serving)
                .collect();
            graph
                .update_application(&app.id, &new, &certificates)
                .await
                .map_err(|e| failed(denied_message("application", &e)))?;
            replicated(run, || async {
                graph
                    .application_tagged(&app.id, &tag)
                    .await?
                    .ok_or_else(|| RegistrationError::NotFound(app.id.clone()))
            })
            .await
            .map_err(|e| failed(denied_message("application", &e)))?
        }
        None => {
            run.step(format!("Create the app registration “{display_name}”"))
                .await?;
            graph
                .create_application(&new, &der_base64)
                .await
                .map_err(|e| failed(denied_message("application", &e)))?
        }
    };
    run.step_done().await?;

    let result = grant(run, graph, &app, setup_client, remove_setup_access).await;
    if let Err(message) = result {
        if created_now {
            cleanup(run, graph, &app, &display_name).await;
        }
        return Err(failed(message));
    }

    run.step("Save the draft with Gatehouse's certificate")
        .await?;
    let thumbprint =
        certificates::sha1_thumbprint(&made.certificate_der).map_err(|e| failed(e.to_string()))?;
    let key_id = app
        .key_credentials
        .iter()
        .find(|k| {
            k.custom_key_identifier
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(&thumbprint))
        })
        .map(|k| k.key_id.clone());
    let certificate = StoredCertificate {
        sealed_key: services
            .sealing_key
            .seal(&made.key_pkcs8_der, &certificate_context(&org.id))
            .map_err(|e| failed(e.to_string()))?,
        certificate_der_base64: der_base64,
        thumbprint,
        expires_on: made.expires_on.to_string(),
        key_id,
    };
    let updated = ConnectionConfig {
        protocol: Protocol::Oidc,
        saml: None,
        allow_idp_initiated: false,
        cloud: run.progress.cloud,
        authority_host: run.progress.authority_host.clone(),
        tenant_id: Some(admin.tenant_id.clone()),
        client_id: Some(app.app_id.clone()),
        secret: None,
        certificate: Some(certificate),
        application_object_id: Some(app.id.clone()),
        verification: None,
        policy: draft.policy.clone(),
    };
    let version = record.as_ref().map(|r| r.draft_version).unwrap_or(0);
    let detail = format!(
        "app {} created automatically in directory {}",
        app.app_id, admin.tenant_id
    );
    let entry = AuditEntry {
        detail: &detail,
        ..AuditEntry::success(Some(&org.id), "connection.draft.credentials", &org.slug)
    };
    store_draft(services, org, version, &updated, &entry, actor)
        .await
        .map_err(|e| {
            failed(format!(
                "Gatehouse could not save the draft: {e}. Start again."
            ))
        })?;
    let directory_now = crate::domains::directory_proof(&updated.authority_host, &admin.tenant_id);
    if let Err(e) = crate::domains::recheck_after_credentials_change(
        services.domains,
        &org.id,
        &directory_now,
        actor,
    )
    .await
    {
        tracing::warn!(organization = %org.id, error = %e, "re-checking email domains after the automatic setup failed");
    }
    // The directory's verified domains, as Graph's /organization named them, prove the email
    // domains the policy lists, on Entra's clouds only (a custom authority could name any), as
    // the test sign-in's do.
    if updated.cloud != Cloud::Custom
        && services
            .allowed_authorities
            .is_entra_cloud(&updated.authority_host)
    {
        let verified = run
            .progress
            .directory
            .as_ref()
            .map(|d| d.domains.clone())
            .unwrap_or_default();
        let listed: Vec<String> = updated
            .policy
            .email_domains
            .iter()
            .map(|d| d.domain.clone())
            .collect();
        if let Err(e) = crate::domains::prove_by_directory(
            services.storage,
            services.now(),
            &org.id,
            &listed,
            &verified,
            &directory_now,
            actor,
        )
        .await
        {
            tracing::warn!(organization = %org.id, error = %e, "proving email domains by the directory failed");
        }
    }
    run.step_done().await?;

    run.step("Verify the connection (a new app can take a few minutes to be accepted everywhere)")
        .await?;
    verify_until_replicated(run, actor).await?;
    run.step_done().await?;
    Ok(())
}

/// The service principal, admin consent, the optional application permission and the
/// removal of the setup client's own grant; the words for the admin when one fails.
async fn grant(
    run: &mut Run<'_, '_>,
    graph: &Graph<'_>,
    app: &Application,
    setup_client: &str,
    remove_setup_access: bool,
) -> Result<(), String> {
    let stop = |e: Stopped| e.message;
    run.step("Create its service principal (the app in Enterprise applications)")
        .await
        .map_err(stop)?;
    let principal = match graph.service_principal(&app.app_id).await {
        Ok(Some(id)) => id,
        Ok(None) => replicated(run, || graph.create_service_principal(&app.app_id))
            .await
            .map_err(|e| denied_message("application", &e))?,
        Err(e) => return Err(denied_message("application", &e)),
    };
    run.step_done().await.map_err(stop)?;

    let graph_principal = graph
        .service_principal(GRAPH_APP_ID)
        .await
        .map_err(|e| denied_message("consent", &e))?
        .ok_or("Microsoft Graph has no service principal in this directory, so consent cannot be granted. Set up manually.")?;
    run.step(format!(
        "Grant admin consent for everyone: {DELEGATED_SCOPES}"
    ))
    .await
    .map_err(stop)?;
    let existing = graph.grants_of(&principal).await.unwrap_or_default();
    if existing.is_empty() {
        replicated(run, || {
            graph.grant_for_everyone(&principal, &graph_principal, DELEGATED_SCOPES)
        })
        .await
        .map_err(|e| denied_message("consent", &e))?;
    }
    run.step_done().await.map_err(stop)?;

    if run.progress.directory_picker {
        run.step("Grant User.Read.All (application) for the directory picker")
            .await
            .map_err(stop)?;
        replicated(run, || {
            graph.assign_app_role(&principal, &graph_principal, USER_READ_ALL_ROLE)
        })
        .await
        .or_else(|e| match &e {
            RegistrationError::Failed(m) if m.contains("already exists") => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| denied_message("consent", &e))?;
        run.step_done().await.map_err(stop)?;
    }

    if remove_setup_access {
        run.step("Remove Gatehouse setup's own access from the directory")
            .await
            .map_err(stop)?;
        let removed = async {
            let Some(setup_principal) = graph.service_principal(setup_client).await? else {
                return Ok(());
            };
            for grant in graph.grants_of(&setup_principal).await? {
                graph.delete_grant(&grant).await?;
            }
            Ok::<(), RegistrationError>(())
        }
        .await;
        match removed {
            Ok(()) => run.step_done().await.map_err(stop)?,
            Err(e) => {
                // Not a reason to undo the app: the admin removes it by hand.
                run.progress.leftovers.push(format!(
                    "Gatehouse setup's consent grant (remove it under Enterprise applications, Gatehouse setup, Permissions): {e}"
                ));
                run.save().await.map_err(stop)?;
            }
        }
    }
    Ok(())
}

/// Deletes the application made in this run (its service principal and grants go with it),
/// or lists it for the admin when Gatehouse may not.
async fn cleanup(run: &mut Run<'_, '_>, graph: &Graph<'_>, app: &Application, display_name: &str) {
    match graph.delete_application(&app.id).await {
        Ok(()) => {
            run.progress.steps.push(SetupStepView {
                label: format!("Delete the app registration “{display_name}” again, since the setup could not finish"),
                done: true,
            });
        }
        Err(e) => run.progress.leftovers.push(format!(
            "The app registration “{display_name}” (Application ID {}, object ID {}): delete it under App registrations ({e})",
            app.app_id, app.id
        )),
    }
    let _ = run.save().await;
}

/// Verifies the draft as the manual path does, again while Entra has not yet replicated the
/// new app and certificate everywhere.
async fn verify_until_replicated(run: &mut Run<'_, '_>, actor: &Actor) -> Result<(), Stopped> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        let version = match load(run.services.storage, run.org).await {
            Ok(Loaded {
                record: Some(r), ..
            }) => r.draft_version,
            _ => {
                return Err(failed(
                    "The draft disappeared during the setup: start again.",
                ))
            }
        };
        let verified = verify_draft(run.services, run.org, &VersionRequest { version }, actor)
            .await
            .map_err(|e| failed(format!("Verifying the new app failed: {e}")))?;
        let passed = verified
            .draft
            .verification
            .as_ref()
            .is_some_and(|v| v.passed);
        if passed || started.elapsed() >= REPLICATION_PATIENCE {
            if !passed {
                run.progress.message = Some("The app was created, but verification has not passed yet: Entra can take a few minutes. Verify again in a moment.".into());
            }
            return Ok(());
        }
        run.save().await?;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_client_asks_for_app_role_assignments_only_for_the_directory_picker() {
        let least = setup_scopes("https://graph.microsoft.com", false);
        assert!(!least
            .iter()
            .any(|s| s.ends_with("AppRoleAssignment.ReadWrite.All")));
        assert!(
            least.contains(&"https://graph.microsoft.com/Application.ReadWrite.All".to_string())
        );
        let picker = setup_scopes("https://graph.microsoft.com", true);
        assert!(picker
            .contains(&"https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All".to_string()));
    }

    #[test]
    fn refusals_say_what_to_do() {
        assert!(
            refusal("AADSTS53003: Access has been blocked by Conditional Access policies.")
                .contains("Conditional Access")
        );
        assert!(
            refusal("AADSTS65001: The user or administrator has not consented")
                .contains("administrator's approval")
        );
    }
}

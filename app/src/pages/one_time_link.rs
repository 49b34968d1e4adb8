//! The one page behind every one-time link: the first-run link Gatehouse prints at its first
//! start, an admin's invite, and an organization's setup link. Each checks its link, says what
//! it is for, and asks for the account it creates; then the person is signed in.

use crate::api::{self, ApiFailure, ApiResult};
use crate::components::{field_error, ErrorBanner, TextField};
use crate::types::{AcceptInviteRequest, ErrorDetail, FirstRunRequest, Me, UseSetupLinkRequest};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

/// Which one-time link a page serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneTimeLink {
    /// Creates the first operator.
    FirstRun,
    /// Makes the invited person an admin of one organization; their email is the invite's.
    Invite,
    /// Creates an admin of one organization, who goes on to the single sign-on wizard.
    SetupLink,
}

/// What a valid link offers: the organization and, for an invite, the email it is bound to.
#[derive(Clone, Debug, Default)]
struct Offer {
    organization: Option<String>,
    email: Option<String>,
    /// For a setup link opened by someone signed in to its organization: their email. The link
    /// then makes that account an admin instead of creating one.
    claimable_by: Option<String>,
}

/// The account the form asks for.
#[derive(Clone, Debug)]
struct AccountForm {
    email: String,
    name: String,
    password: String,
}

impl OneTimeLink {
    fn title(self) -> &'static str {
        match self {
            OneTimeLink::FirstRun => "Set up Gatehouse",
            OneTimeLink::Invite => "Accept your invitation",
            OneTimeLink::SetupLink => "Set up single sign-on",
        }
    }

    fn checking(self) -> &'static str {
        match self {
            OneTimeLink::Invite => "Checking the invitation…",
            OneTimeLink::FirstRun | OneTimeLink::SetupLink => "Checking the link…",
        }
    }

    fn email_label(self) -> &'static str {
        match self {
            OneTimeLink::SetupLink => "Your work email",
            OneTimeLink::FirstRun | OneTimeLink::Invite => "Email",
        }
    }

    fn password_hint(self) -> &'static str {
        match self {
            OneTimeLink::SetupLink => {
                "At least 12 characters. You can always sign in with it, even when SSO is broken."
            }
            OneTimeLink::FirstRun | OneTimeLink::Invite => "At least 12 characters.",
        }
    }

    fn submit_label(self) -> &'static str {
        match self {
            OneTimeLink::FirstRun => "Create operator account",
            OneTimeLink::Invite => "Accept and sign in",
            OneTimeLink::SetupLink => "Create account and continue",
        }
    }

    /// What the link offers, or why it no longer works.
    async fn check(self, token: &str) -> ApiResult<Offer> {
        match self {
            OneTimeLink::FirstRun => {
                let status = api::first_run_status(token).await?;
                if status.valid {
                    Ok(Offer::default())
                } else {
                    Err(ApiFailure {
                        status: 410,
                        detail: ErrorDetail {
                            code: "link_invalid".into(),
                            message: "This setup link has expired or was already used. Restart Gatehouse to print a new one.".into(),
                            fields: Default::default(),
                        },
                    })
                }
            }
            OneTimeLink::Invite => api::invite(token).await.map(|invite| Offer {
                organization: Some(invite.organization_name),
                email: Some(invite.email),
                claimable_by: None,
            }),
            OneTimeLink::SetupLink => {
                let link = api::setup_link(token).await?;
                // Someone already signed in to this organization uses the link as themselves.
                let claimable_by = api::me().await.ok().and_then(|me| {
                    let here = me.organization.as_ref()?.id == link.organization_id;
                    here.then(|| me.email.unwrap_or(me.name))
                });
                Ok(Offer {
                    organization: Some(link.organization_name),
                    email: None,
                    claimable_by,
                })
            }
        }
    }

    /// Uses the link to create the account, which is then signed in.
    async fn accept(self, token: String, form: AccountForm) -> ApiResult<Me> {
        let AccountForm {
            email,
            name,
            password,
        } = form;
        match self {
            OneTimeLink::FirstRun => {
                let request = FirstRunRequest {
                    token,
                    email,
                    name,
                    password,
                };
                api::complete_first_run(&request).await
            }
            OneTimeLink::Invite => {
                api::accept_invite(&token, &AcceptInviteRequest { name, password }).await
            }
            OneTimeLink::SetupLink => {
                let request = UseSetupLinkRequest {
                    email,
                    name,
                    password,
                };
                api::use_setup_link(&token, &request).await
            }
        }
    }

    /// Where to sign in to an existing account and come back to this link.
    fn sign_in_first(self, token: &str) -> Option<String> {
        (self == OneTimeLink::SetupLink).then(|| {
            format!(
                "/signin?return_to={}",
                api::encode_query(&format!("/connect/{token}"))
            )
        })
    }

    /// Where the new account goes first.
    fn next_page(self, me: &Me) -> String {
        match (self, &me.organization) {
            (OneTimeLink::SetupLink, Some(org)) => format!("/console/orgs/{}/sso", org.id),
            _ => "/console".into(),
        }
    }

    fn offer_text(self, offer: Offer) -> impl IntoView {
        let organization = offer.organization.unwrap_or_default();
        match self {
            OneTimeLink::FirstRun => view! {
                <p>"Create the first operator account. Operators create organizations and invite their admins."</p>
            }
            .into_any(),
            OneTimeLink::Invite => view! {
                <p>
                    "You are invited to administer "<strong>{organization}</strong>
                    " as "<strong>{offer.email.unwrap_or_default()}</strong>"."
                </p>
            }
            .into_any(),
            OneTimeLink::SetupLink => match offer.claimable_by {
                Some(email) => view! {
                    <p>"This link sets up single sign-on for "<strong>{organization}</strong>
                        ". You are signed in as "<strong>{email}</strong>
                        ": the link makes this account an admin, and the setup wizard comes next."</p>
                }
                .into_any(),
                None => view! {
                    <p>"This link sets up single sign-on for "<strong>{organization}</strong>
                        ". Create your admin account first; the setup wizard comes next."</p>
                }
                .into_any(),
            },
        }
    }
}

/// The page of a one-time link (`/setup/:token`, `/invite/:token`, `/connect/:token`).
#[component]
pub fn OneTimeLinkPage(link: OneTimeLink) -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let offer = LocalResource::new(move || {
        let token = token();
        async move { link.check(&token).await }
    });

    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let navigate = use_navigate();
    let submit = Action::new_local(move |(token, form): &(String, AccountForm)| {
        link.accept(token.clone(), form.clone())
    });
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(me)) => navigate(&link.next_page(&me), Default::default()),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let claim = Action::new_local(move |token: &String| {
        let token = token.clone();
        async move { api::claim_setup_link(&token).await }
    });
    let navigate_after_claim = use_navigate();
    Effect::new(move |_| match claim.value().get() {
        Some(Ok(me)) => navigate_after_claim(&link.next_page(&me), Default::default()),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let on_claim = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        claim.dispatch(token());
    };
    let claim_form = move || {
        view! {
            <form on:submit=on_claim>
                <button type="submit" disabled=move || claim.pending().get()>
                    "Make this account an admin and continue"
                </button>
            </form>
        }
    };

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        let form = AccountForm {
            email: email.get_untracked(),
            name: name.get_untracked(),
            password: password.get_untracked(),
        };
        submit.dispatch((token(), form));
    };

    let form = move |asks_email: bool| {
        view! {
            <form on:submit=on_submit novalidate>
                {asks_email.then(|| view! {
                    <TextField id="email" label=link.email_label() input_type="email"
                        autocomplete="username" value=email error=field_error(failure, "email") />
                })}
                <TextField id="name" label="Your name" autocomplete="name"
                    value=name error=field_error(failure, "name") />
                <TextField id="password" label="Password" input_type="password"
                    autocomplete="new-password" hint=link.password_hint()
                    value=password error=field_error(failure, "password") />
                <button type="submit" disabled=move || submit.pending().get()>
                    {link.submit_label()}
                </button>
            </form>
        }
    };

    view! {
        <section class="card narrow">
            <h1>{link.title()}</h1>
            <ErrorBanner failure />
            {move || match offer.get() {
                None => view! { <p aria-busy="true">{link.checking()}</p> }.into_any(),
                Some(Ok(offer)) if offer.claimable_by.is_some() => {
                    view! { {link.offer_text(offer)} {claim_form()} }.into_any()
                }
                Some(Ok(offer)) => {
                    let asks_email = offer.email.is_none();
                    let sign_in_first = link.sign_in_first(&token()).map(|href| view! {
                        <p class="hint">
                            "Already have an account here? "<a href=href>"Sign in first"</a>
                            ", then open this link again: it makes that account an admin."
                        </p>
                    });
                    view! { {link.offer_text(offer)} {form(asks_email)} {sign_in_first} }
                        .into_any()
                }
                Some(Err(f)) => view! {
                    <p class="banner banner-error" role="alert">{f.detail.message}</p>
                }
                .into_any(),
            }}
        </section>
    }
}

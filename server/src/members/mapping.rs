//! Mapping members to directory users with the directory's help: the picker, members added
//! from the directory, suggestions the admin confirms, and the health of the mapping.
//!
//! Suggestions match a directory user's UPN or mail to a member's email, which the directory's
//! own admins can set to anything: they are never applied without the admin's confirmation.

use crate::connections::StoredConnectionError;
use crate::directory::{Directory, DirectoryServices, Unreadable};
use crate::domain::{EmailAddress, FieldErrors, Guid, Name};
use crate::entra::graph::DirectoryUser;
use crate::storage::{
    Actor, ConfirmedMapping, DirectoryIdentity, MemberRecord, NewMember, StorageError,
};
use app::types::SUGGESTION_LIMIT;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Why a mapping change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The input, or the directory's answer to it, does not allow the change; each field says
    /// why (`directory` when the directory cannot be read).
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("no such member")]
    UnknownMember,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Stored(#[from] StoredConnectionError),
}

impl MappingError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        MappingError::Invalid(FieldErrors::single(field, message))
    }
}

type MappingResult<T> = Result<T, MappingError>;

/// What a read of the directory gave, or why the directory could not be read (which says what
/// to grant).
pub type DirectoryRead<T> = Result<T, Unreadable>;

/// The member a directory user is mapped to.
#[derive(Debug, Clone)]
pub struct Holder {
    pub id: String,
    pub display_name: String,
}

/// A directory user a search found, with the member already mapped to them.
pub struct FoundUser {
    pub user: DirectoryUser,
    pub mapped_to: Option<Holder>,
}

/// Directory users whose name, UPN or mail starts with `text`, with who they are mapped to.
pub async fn search(
    services: DirectoryServices<'_>,
    organization_id: &str,
    text: &str,
) -> MappingResult<DirectoryRead<Vec<FoundUser>>> {
    let directory = match Directory::of(services, organization_id).await? {
        Ok(d) => d,
        Err(u) => return Ok(Err(u)),
    };
    if text.trim().is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let users = match directory.search(text).await {
        Ok(users) => users,
        Err(u) => return Ok(Err(u)),
    };
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut holders: HashMap<String, Holder> = services
        .storage
        .holders_of(organization_id, directory.tenant_id(), &ids)
        .await?
        .into_iter()
        .map(|h| {
            (
                h.directory_object_id,
                Holder {
                    id: h.id,
                    display_name: h.display_name,
                },
            )
        })
        .collect();
    Ok(Ok(users
        .into_iter()
        .map(|user| FoundUser {
            mapped_to: holders.remove(&user.id),
            user,
        })
        .collect()))
}

fn unreadable_error(u: Unreadable) -> MappingError {
    MappingError::field("directory", u.message)
}

/// A directory user read by Object ID, or a precise error.
async fn read_user(
    directory: &Directory<'_>,
    object_id: &str,
) -> MappingResult<(Guid, DirectoryUser)> {
    let guid = Guid::parse(object_id).map_err(|e| MappingError::field("object_id", e))?;
    let user = directory
        .user(&guid.0)
        .await
        .map_err(unreadable_error)?
        .ok_or_else(|| {
            MappingError::field(
                "object_id",
                "The directory has no user with this Object ID any more. Search again.",
            )
        })?;
    Ok((guid, user))
}

/// Maps the member to a directory user picked in the console: read from the directory, so the
/// Object ID is never copied by hand.
pub async fn map_member(
    services: DirectoryServices<'_>,
    actor: &Actor,
    organization_id: &str,
    member_id: &str,
    object_id: &str,
) -> MappingResult<MemberRecord> {
    let directory = Directory::of(services, organization_id)
        .await?
        .map_err(unreadable_error)?;
    let (guid, user) = read_user(&directory, object_id).await?;
    let update = crate::storage::MemberUpdate {
        directory_identity: Some(Some(DirectoryIdentity {
            tenant_id: directory.tenant_id(),
            object_id: &guid.0,
            user_principal_name: user.user_principal_name.as_deref(),
        })),
        ..Default::default()
    };
    services
        .storage
        .update_member(
            organization_id,
            member_id,
            &update,
            actor,
            services.clock.now(),
        )
        .await
        .map_err(|e| match e {
            StorageError::NotFound => MappingError::UnknownMember,
            other => other.into(),
        })
}

/// How many directory users "Add from directory" reads at the same time.
const DIRECTORY_READS_AT_ONCE: usize = 8;

/// A picked directory user that could not become a member, and why.
pub struct Skipped {
    pub object_id: String,
    pub name: String,
    pub reason: String,
}

/// The members "Add from directory" created, and the users it could not add, with why.
pub struct AddedFromDirectory {
    pub added: Vec<MemberRecord>,
    pub skipped: Vec<Skipped>,
}

/// Creates a member from each picked directory user; users that cannot become members are
/// listed with the reason.
pub async fn add_from_directory(
    services: DirectoryServices<'_>,
    actor: &Actor,
    organization_id: &str,
    object_ids: &[String],
) -> MappingResult<AddedFromDirectory> {
    if object_ids.is_empty() || object_ids.len() > 100 {
        return Err(MappingError::field(
            "object_ids",
            "Pick between 1 and 100 directory users at a time.",
        ));
    }
    let directory = Directory::of(services, organization_id)
        .await?
        .map_err(unreadable_error)?;
    let mut result = AddedFromDirectory {
        added: Vec::new(),
        skipped: Vec::new(),
    };
    // Read a few at a time, in the order picked: the directory answers each in tens of
    // milliseconds, and a burst of a hundred requests would only be throttled.
    let directory = &directory;
    let users: Vec<(Guid, DirectoryUser)> = futures_util::stream::iter(object_ids.to_vec())
        .map(|object_id| async move { read_user(directory, &object_id).await })
        .buffered(DIRECTORY_READS_AT_ONCE)
        .try_collect()
        .await?;
    for (guid, user) in users {
        let skip = |reason: &str| Skipped {
            object_id: guid.0.clone(),
            name: user.name().to_string(),
            reason: reason.into(),
        };
        let Some(email) = user.email().and_then(|e| EmailAddress::parse(e).ok()) else {
            result
                .skipped
                .push(skip("The directory user has no usable mail or UPN."));
            continue;
        };
        let name = Name::parse(user.name())
            .map(|n| n.0)
            .unwrap_or_else(|_| email.display.clone());
        let member = NewMember {
            email: Some((&email.display, &email.normalized)),
            display_name: &name,
            role: "member",
        };
        let identity = DirectoryIdentity {
            tenant_id: directory.tenant_id(),
            object_id: &guid.0,
            user_principal_name: user.user_principal_name.as_deref(),
        };
        match services
            .storage
            .create_member_from_directory(
                organization_id,
                &member,
                identity,
                "added from the directory",
                actor,
                services.clock.now(),
            )
            .await
        {
            Ok(record) => result.added.push(record),
            Err(StorageError::Conflict("email")) => result.skipped.push(skip(
                "A member with this email already exists: map them instead.",
            )),
            Err(StorageError::Conflict("directory_object_id")) => result.skipped.push(skip(
                "Another member is already mapped to this directory user.",
            )),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(result)
}

/// A proposal: the member and the directory user whose UPN or mail equals their email.
struct Match<'a> {
    member: &'a crate::storage::UnmappedMember,
    user: &'a DirectoryUser,
    matched_on: &'static str,
}

/// What suggestions are made from: the unmapped members, and the Object IDs already mapped
/// (a directory user mapped to someone is never proposed again).
struct Unmatched {
    members: Vec<crate::storage::UnmappedMember>,
    mapped_object_ids: std::collections::HashSet<String>,
}

impl Unmatched {
    async fn load(
        storage: &crate::storage::Storage,
        organization_id: &str,
        tenant_id: &str,
    ) -> MappingResult<Self> {
        Ok(Unmatched {
            members: storage.unmapped_members(organization_id).await?,
            mapped_object_ids: storage
                .mapped_members(organization_id, tenant_id)
                .await?
                .into_iter()
                .map(|m| m.directory_object_id)
                .collect(),
        })
    }

    fn matches<'a>(&'a self, users: &'a [DirectoryUser]) -> Vec<Match<'a>> {
        find_matches(&self.members, users, &self.mapped_object_ids)
    }
}

fn find_matches<'a>(
    members: &'a [crate::storage::UnmappedMember],
    users: &'a [DirectoryUser],
    mapped_object_ids: &std::collections::HashSet<String>,
) -> Vec<Match<'a>> {
    let mut by_upn: HashMap<String, &DirectoryUser> = HashMap::new();
    let mut by_mail: HashMap<String, &DirectoryUser> = HashMap::new();
    for user in users.iter().filter(|u| !mapped_object_ids.contains(&u.id)) {
        if let Some(upn) = &user.user_principal_name {
            by_upn.insert(upn.to_lowercase(), user);
        }
        if let Some(mail) = &user.mail {
            by_mail.insert(mail.to_lowercase(), user);
        }
    }
    let mut taken = std::collections::HashSet::new();
    let mut matches = Vec::new();
    // Suggestions match on email: a member without one has nothing to match.
    for member in members.iter().filter(|m| !m.email_normalized.is_empty()) {
        let found = by_upn
            .get(&member.email_normalized)
            .map(|u| (*u, "upn"))
            .or_else(|| by_mail.get(&member.email_normalized).map(|u| (*u, "mail")));
        if let Some((user, matched_on)) = found {
            // One directory user is proposed to one member only.
            if taken.insert(user.id.as_str()) {
                matches.push(Match {
                    member,
                    user,
                    matched_on,
                });
            }
        }
    }
    matches.sort_by(|a, b| a.member.display_name.cmp(&b.member.display_name));
    matches
}

/// A proposal for the admin: an unmapped member and the directory user whose UPN or mail
/// equals their email.
pub struct Suggested {
    pub member_id: String,
    pub member_name: String,
    pub member_email: String,
    pub user: DirectoryUser,
    /// `upn` or `mail`.
    pub matched_on: &'static str,
}

/// The first `SUGGESTION_LIMIT` proposals, and how many there are.
pub struct SuggestionList {
    pub first: Vec<Suggested>,
    pub total: usize,
}

/// Directory users proposed for unmapped members.
pub async fn suggestions(
    services: DirectoryServices<'_>,
    organization_id: &str,
) -> MappingResult<DirectoryRead<SuggestionList>> {
    let directory = match Directory::of(services, organization_id).await? {
        Ok(d) => d,
        Err(u) => return Ok(Err(u)),
    };
    let scan = match directory.scan(true).await {
        Ok(s) => s,
        Err(u) => return Ok(Err(u)),
    };
    let members = Unmatched::load(services.storage, organization_id, directory.tenant_id()).await?;
    let matches = members.matches(&scan.users);
    Ok(Ok(SuggestionList {
        total: matches.len(),
        first: matches
            .iter()
            .take(SUGGESTION_LIMIT)
            .map(|m| Suggested {
                member_id: m.member.id.clone(),
                member_name: m.member.display_name.clone(),
                member_email: m.member.email.clone().unwrap_or_default(),
                user: m.user.clone(),
                matched_on: m.matched_on,
            })
            .collect(),
    }))
}

/// One suggestion the admin confirmed: a member and a directory user's Object ID.
pub struct Choice<'a> {
    pub member_id: &'a str,
    pub object_id: &'a str,
}

/// How many confirmed suggestions were mapped, and the ones that no longer held, with why.
pub struct Confirmed {
    pub mapped: i64,
    pub skipped: Vec<String>,
}

/// Maps the suggestions the admin confirmed. Each choice must still be a suggestion now (the
/// directory read again if the last read is old): a confirmed pair is never taken on trust.
pub async fn confirm(
    services: DirectoryServices<'_>,
    actor: &Actor,
    organization_id: &str,
    choices: &[Choice<'_>],
) -> MappingResult<Confirmed> {
    if choices.is_empty() || choices.len() > SUGGESTION_LIMIT {
        return Err(MappingError::field(
            "choices",
            format!("Confirm between 1 and {SUGGESTION_LIMIT} suggestions at a time."),
        ));
    }
    let directory = Directory::of(services, organization_id)
        .await?
        .map_err(unreadable_error)?;
    let scan = directory.scan(false).await.map_err(unreadable_error)?;
    let members = Unmatched::load(services.storage, organization_id, directory.tenant_id()).await?;
    let current: HashMap<(&str, &str), &DirectoryUser> = members
        .matches(&scan.users)
        .into_iter()
        .map(|m| ((m.member.id.as_str(), m.user.id.as_str()), m.user))
        .collect();
    let mut confirmed = Vec::new();
    let mut skipped = Vec::new();
    for choice in choices {
        match current.get(&(choice.member_id, choice.object_id)) {
            Some(user) => confirmed.push(ConfirmedMapping {
                member_id: choice.member_id,
                object_id: choice.object_id,
                user_principal_name: user.user_principal_name.as_deref(),
            }),
            None => skipped.push(format!(
                "{} is no longer a suggestion for member {}.",
                choice.object_id, choice.member_id
            )),
        }
    }
    let (mapped, mut refused) = services
        .storage
        .confirm_mappings(
            organization_id,
            directory.tenant_id(),
            &confirmed,
            actor,
            services.clock.now(),
        )
        .await?;
    skipped.append(&mut refused);
    Ok(Confirmed { mapped, skipped })
}

/// Stale mappings, as a read of the directory found them.
pub struct Stale {
    pub count: i64,
    pub read_at: time::OffsetDateTime,
}

/// Mapped and unmapped members, and the stale mappings when the directory is readable.
pub struct Health {
    pub mapped: i64,
    pub unmapped: i64,
    pub stale: DirectoryRead<Stale>,
}

/// Mapped, unmapped and (when the directory is readable) stale mappings: Object IDs the
/// directory no longer has, and mappings to a directory the organization no longer uses.
pub async fn health(
    services: DirectoryServices<'_>,
    organization_id: &str,
) -> MappingResult<Health> {
    let (mapped, unmapped) = services.storage.mapping_counts(organization_id).await?;
    let health = |stale| Health {
        mapped,
        unmapped,
        stale,
    };
    let directory = match Directory::of(services, organization_id).await? {
        Ok(d) => d,
        Err(u) => return Ok(health(Err(u))),
    };
    let scan = match directory.scan(false).await {
        Ok(scan) => scan,
        Err(u) => return Ok(health(Err(u))),
    };
    let present: std::collections::HashSet<&str> =
        scan.users.iter().map(|u| u.id.as_str()).collect();
    let gone = services
        .storage
        .mapped_members(organization_id, directory.tenant_id())
        .await?
        .iter()
        .filter(|m| !present.contains(m.directory_object_id.as_str()))
        .count();
    let elsewhere = services
        .storage
        .count_mapped_elsewhere(organization_id, directory.tenant_id())
        .await?;
    Ok(health(Ok(Stale {
        count: gone as i64 + elsewhere,
        read_at: scan.read_at,
    })))
}

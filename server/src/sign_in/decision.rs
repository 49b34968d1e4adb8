//! Who gets in: the one rule both the real sign-in and the wizard's test sign-in apply. The
//! identity is the pair (`tid`, `oid`); an email claim never picks a member.

use crate::connections::Policy;
use crate::oidc::Identity;
use crate::storage::MemberRecord;
use app::types::{MemberRole, SsoMode};

/// What the policy decides for a directory user who signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The mapped member signs in.
    Admit(&'a MemberRecord),
    /// No member maps to this person and the organization creates one on first sign-in.
    Create(MemberRole),
    Refuse(Refusal),
}

/// Why someone is refused; each reason says who can fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    OtherDirectory,
    SsoDisabled,
    MemberDisabled,
    AdminsNotAllowed,
    NotSelected,
    Unknown,
    /// Creating the member failed because the email already belongs to an unmapped member.
    EmailTaken,
}

impl Refusal {
    /// The short reason written to the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::OtherDirectory => "other_directory",
            Refusal::SsoDisabled => "sso_disabled",
            Refusal::MemberDisabled => "member_disabled",
            Refusal::AdminsNotAllowed => "admins_not_allowed",
            Refusal::NotSelected => "not_selected",
            Refusal::Unknown => "no_member",
            Refusal::EmailTaken => "email_taken",
        }
    }

    /// What happened and who can fix it, for the person who was refused.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::OtherDirectory => "You signed in with an account from another directory than the one your organization connected. Sign out of Microsoft and sign in with your work account.",
            Refusal::SsoDisabled => "Single sign-on is turned off for your organization. Your admin can turn it on; until then, sign in with a password if you have one.",
            Refusal::MemberDisabled => "Your account in this organization is disabled. Ask your admin to enable it.",
            Refusal::AdminsNotAllowed => "Admins of this organization sign in with their password, not with single sign-on. Use the password sign-in, or ask another admin to allow admins to use SSO.",
            Refusal::NotSelected => "Single sign-on is on only for selected members, and you are not one of them yet. Ask your admin to enable SSO for you.",
            Refusal::Unknown => "Your directory account is not linked to a member of this organization. Ask your admin to add you, or to map your account.",
            Refusal::EmailTaken => "A member with your email already exists in this organization but is not linked to your directory account. Ask your admin to map your account to that member.",
        }
    }

    /// The same, as the wizard's test sign-in describes it to the admin.
    fn as_test_result(self) -> &'static str {
        match self {
            Refusal::OtherDirectory => "Would be refused: the account belongs to another directory.",
            Refusal::SsoDisabled => "Would be refused: the SSO mode is Disabled.",
            Refusal::MemberDisabled => "Would be refused: the member is disabled.",
            Refusal::AdminsNotAllowed => {
                "Would be refused: admins may not use SSO (they sign in with their password)."
            }
            Refusal::NotSelected => {
                "Would be refused: SSO is on for selected members only, and this member is not selected."
            }
            Refusal::Unknown => "Would be refused: no member maps to this person and members are not created on first sign-in.",
            Refusal::EmailTaken => {
                "Would be refused: a member already has this email but is not mapped to this person."
            }
        }
    }
}

/// Applies the policy to `identity`, which maps to `member` (found by `tid` and `oid`).
pub fn decide<'a>(
    policy: &Policy,
    directory_tenant_id: &str,
    identity: &Identity,
    member: Option<&'a MemberRecord>,
) -> Decision<'a> {
    if !identity.tenant_id.eq_ignore_ascii_case(directory_tenant_id) {
        return Decision::Refuse(Refusal::OtherDirectory);
    }
    if policy.mode == SsoMode::Disabled {
        return Decision::Refuse(Refusal::SsoDisabled);
    }
    match member {
        Some(m) if m.status != "active" => Decision::Refuse(Refusal::MemberDisabled),
        Some(m) if m.role == "admin" && !policy.allow_admins => {
            Decision::Refuse(Refusal::AdminsNotAllowed)
        }
        Some(m) if policy.mode == SsoMode::SelectedMembers && m.sso_enabled == 0 => {
            Decision::Refuse(Refusal::NotSelected)
        }
        Some(m) => Decision::Admit(m),
        None if policy.create_members => Decision::Create(policy.new_member_role),
        None => Decision::Refuse(Refusal::Unknown),
    }
}

/// How the wizard's test sign-in words a decision.
pub fn describe(decision: &Decision<'_>) -> String {
    match decision {
        Decision::Admit(_) => "Would be let in.".to_string(),
        Decision::Create(role) => format!(
            "Would be let in, created on first sign-in as a new {}.",
            role.as_str()
        ),
        Decision::Refuse(r) => r.as_test_result().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";

    fn identity(tenant: &str) -> Identity {
        Identity {
            tenant_id: tenant.into(),
            object_id: "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f".into(),
            name: None,
            username: None,
            email: None,
            email_verified: false,
            sid: None,
            passed_on: Default::default(),
        }
    }

    fn member(role: &str, status: &str, sso_enabled: i64) -> MemberRecord {
        MemberRecord {
            id: "m1".into(),
            organization_id: "o1".into(),
            email: Some("b.simon@contoso.com".into()),
            display_name: "B. Simon".into(),
            role: role.into(),
            status: status.into(),
            directory_tenant_id: Some(TENANT.into()),
            directory_object_id: Some("3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f".into()),
            directory_upn: None,
            sso_enabled,
            last_sso_sign_in_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn policy(mode: SsoMode) -> Policy {
        Policy {
            mode,
            ..Policy::default()
        }
    }

    #[test]
    fn each_rule_of_the_policy_applies() {
        let everyone = policy(SsoMode::Everyone);
        let simon = member("member", "active", 0);
        assert_eq!(
            decide(&everyone, TENANT, &identity(TENANT), Some(&simon)),
            Decision::Admit(&simon)
        );
        let other = "2a7d9e4b-1c3f-4e5a-8b6d-9f0e1a2b3c4d";
        assert_eq!(
            decide(&everyone, TENANT, &identity(other), Some(&simon)),
            Decision::Refuse(Refusal::OtherDirectory)
        );
        assert_eq!(
            decide(
                &policy(SsoMode::Disabled),
                TENANT,
                &identity(TENANT),
                Some(&simon)
            ),
            Decision::Refuse(Refusal::SsoDisabled)
        );
        let disabled = member("member", "disabled", 1);
        assert_eq!(
            decide(&everyone, TENANT, &identity(TENANT), Some(&disabled)),
            Decision::Refuse(Refusal::MemberDisabled)
        );
        let selected = policy(SsoMode::SelectedMembers);
        assert_eq!(
            decide(&selected, TENANT, &identity(TENANT), Some(&simon)),
            Decision::Refuse(Refusal::NotSelected)
        );
        let chosen = member("member", "active", 1);
        assert_eq!(
            decide(&selected, TENANT, &identity(TENANT), Some(&chosen)),
            Decision::Admit(&chosen)
        );
        let admin = member("admin", "active", 1);
        let no_admins = Policy {
            allow_admins: false,
            ..everyone.clone()
        };
        assert_eq!(
            decide(&no_admins, TENANT, &identity(TENANT), Some(&admin)),
            Decision::Refuse(Refusal::AdminsNotAllowed)
        );
    }

    #[test]
    fn an_unknown_person_is_created_only_when_the_organization_allows_it() {
        let everyone = policy(SsoMode::Everyone);
        assert_eq!(
            decide(&everyone, TENANT, &identity(TENANT), None),
            Decision::Refuse(Refusal::Unknown)
        );
        let creating = Policy {
            create_members: true,
            ..everyone
        };
        assert_eq!(
            decide(&creating, TENANT, &identity(TENANT), None),
            Decision::Create(MemberRole::Member)
        );
    }
}

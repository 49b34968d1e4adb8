//! The storage layer's rules, on SQLite (default) and PostgreSQL (`.ci/run`).

mod common;

use common::fresh_storage;
use gatehouse::storage::{
    Actor, DirectoryIdentity, ImportChanges, ImportedMember, MemberListQuery, MemberUpdate,
    NewInvite, NewMember, PageRequest, SessionRecord, StorageError,
};
use time::{Duration, OffsetDateTime};

fn actor() -> Actor {
    Actor {
        label: "operator:ops@vendor.example".into(),
        client_addr: "127.0.0.1".into(),
    }
}

fn member<'a>(email: &'a str, normalized: &'a str, name: &'a str) -> NewMember<'a> {
    NewMember {
        email: Some((email, normalized)),
        display_name: name,
        role: "member",
    }
}

/// The `i`th member of an import, `user{i:05}@contoso.com`: a member, unmapped, not selected
/// for SSO.
fn imported_member(i: usize, display_name: String) -> ImportedMember {
    let email = format!("user{i:05}@contoso.com");
    ImportedMember {
        email_normalized: email.clone(),
        email,
        display_name,
        role: "member",
        object_id: None,
        sso_enabled: false,
    }
}

/// An Object ID for the `i`th member.
fn object_id(i: usize) -> String {
    format!("{i:08}-0000-4000-8000-000000000000")
}

/// One page of an organization's members list as `query` asks for it, and the number of matches.
async fn list_page(
    storage: &gatehouse::storage::Storage,
    organization_id: &str,
    query: MemberListQuery<'_>,
    page: PageRequest,
) -> (Vec<gatehouse::storage::MemberRecord>, i64) {
    let got = storage
        .list_members(organization_id, &query, page)
        .await
        .unwrap();
    (got.items, got.total)
}

/// A fresh database holding one organization, Contoso; and the time it was created.
async fn with_contoso() -> (
    gatehouse::storage::Storage,
    tempfile::TempDir,
    gatehouse::storage::OrganizationRecord,
    OffsetDateTime,
) {
    let (storage, dir) = fresh_storage().await;
    let now = OffsetDateTime::now_utc();
    let org = storage
        .create_organization("Contoso", "contoso", &actor(), now)
        .await
        .unwrap();
    (storage, dir, org, now)
}

/// Imports these members as new ones, in one transaction.
async fn import_members(
    storage: &gatehouse::storage::Storage,
    organization_id: &str,
    tenant_id: Option<&str>,
    creates: Vec<ImportedMember>,
    now: OffsetDateTime,
) -> Result<(), StorageError> {
    let changes = ImportChanges {
        creates,
        ..ImportChanges::default()
    };
    apply_import(storage, organization_id, tenant_id, changes, now).await
}

/// Applies these changes as one import, in one transaction.
async fn apply_import(
    storage: &gatehouse::storage::Storage,
    organization_id: &str,
    tenant_id: Option<&str>,
    changes: ImportChanges,
    now: OffsetDateTime,
) -> Result<(), StorageError> {
    storage
        .apply_member_import(
            organization_id,
            tenant_id,
            |_| Ok::<_, ()>(changes),
            &std::sync::atomic::AtomicU64::new(0),
            &actor(),
            now,
        )
        .await
        .map(|planned| planned.expect("the plan is given"))
        .map(drop)
}

#[tokio::test]
async fn organization_slugs_are_unique() {
    let (storage, _dir) = fresh_storage().await;
    let now = OffsetDateTime::now_utc();
    storage
        .create_organization("Contoso", "contoso", &actor(), now)
        .await
        .unwrap();
    let err = storage
        .create_organization("Contoso 2", "contoso", &actor(), now)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict("slug")), "{err:?}");
    let page = storage
        .list_organizations("", PageRequest::new(None, 10))
        .await
        .unwrap();
    assert_eq!(page.total, 1, "the failed insert left nothing behind");
}

#[tokio::test]
async fn organizations_are_searched_and_paged_by_name() {
    let (storage, _dir) = fresh_storage().await;
    let now = OffsetDateTime::now_utc();
    for i in 0..12 {
        storage
            .create_organization(
                &format!("Org {i:02}"),
                &format!("org-{i:02}"),
                &actor(),
                now,
            )
            .await
            .unwrap();
    }
    storage
        .create_organization("Fabrikam", "fabrikam", &actor(), now)
        .await
        .unwrap();
    let first = storage
        .list_organizations("org", PageRequest::new(Some(1), 5))
        .await
        .unwrap();
    assert_eq!(first.total, 12);
    assert_eq!(
        first
            .items
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        ["Org 00", "Org 01", "Org 02", "Org 03", "Org 04"]
    );
    let last = storage
        .list_organizations("org", PageRequest::new(Some(3), 5))
        .await
        .unwrap();
    assert_eq!(last.items.len(), 2);
    let fab = storage
        .list_organizations("FABRI", PageRequest::new(None, 5))
        .await
        .unwrap();
    assert_eq!(fab.total, 1);
    let wildcard = storage
        .list_organizations("%", PageRequest::new(None, 5))
        .await
        .unwrap();
    assert_eq!(wildcard.total, 0, "a typed % is a literal, not a wildcard");
}

#[tokio::test]
async fn member_emails_are_unique_per_organization_ignoring_case() {
    let (storage, _dir) = fresh_storage().await;
    let now = OffsetDateTime::now_utc();
    let contoso = storage
        .create_organization("Contoso", "contoso", &actor(), now)
        .await
        .unwrap();
    let fabrikam = storage
        .create_organization("Fabrikam", "fabrikam", &actor(), now)
        .await
        .unwrap();
    storage
        .create_member(
            &contoso.id,
            &member("B.Simon@contoso.com", "b.simon@contoso.com", "B. Simon"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    let err = storage
        .create_member(
            &contoso.id,
            &member("b.simon@CONTOSO.com", "b.simon@contoso.com", "Other"),
            &actor(),
            now,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict("email")), "{err:?}");
    storage
        .create_member(
            &fabrikam.id,
            &member("b.simon@contoso.com", "b.simon@contoso.com", "B. Simon"),
            &actor(),
            now,
        )
        .await
        .expect("another organization may have the same email");
}

#[tokio::test]
async fn members_of_another_organization_are_not_found() {
    let (storage, _dir) = fresh_storage().await;
    let now = OffsetDateTime::now_utc();
    let contoso = storage
        .create_organization("Contoso", "contoso", &actor(), now)
        .await
        .unwrap();
    let fabrikam = storage
        .create_organization("Fabrikam", "fabrikam", &actor(), now)
        .await
        .unwrap();
    let m = storage
        .create_member(
            &contoso.id,
            &member("a@contoso.com", "a@contoso.com", "A"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    assert!(storage
        .find_member(&fabrikam.id, &m.id)
        .await
        .unwrap()
        .is_none());
    let update = MemberUpdate {
        status: Some("disabled"),
        ..Default::default()
    };
    let err = storage
        .update_member(&fabrikam.id, &m.id, &update, &actor(), now)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound));
    assert_eq!(
        storage
            .find_member(&contoso.id, &m.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "active"
    );
}

#[tokio::test]
async fn an_invite_works_once_and_not_after_it_expires() {
    let (storage, _dir, org, now) = with_contoso().await;
    storage
        .create_invite(
            &NewInvite {
                organization_id: &org.id,
                email: ("Ada@contoso.com", "ada@contoso.com"),
                token_hash: "hash-1",
                expires_at: now + Duration::days(7),
                detail: "",
            },
            &actor(),
            now,
        )
        .await
        .unwrap();
    storage
        .create_invite(
            &NewInvite {
                organization_id: &org.id,
                email: ("late@contoso.com", "late@contoso.com"),
                token_hash: "hash-2",
                expires_at: now + Duration::days(7),
                detail: "",
            },
            &actor(),
            now,
        )
        .await
        .unwrap();
    assert!(storage.find_invite("hash-1", now).await.unwrap().is_some());
    let admin = storage
        .accept_invite("hash-1", "Ada", "argon-hash", "127.0.0.1", now)
        .await
        .unwrap();
    assert_eq!(
        (admin.role.as_str(), admin.email.as_deref().unwrap()),
        ("admin", "Ada@contoso.com")
    );
    assert!(matches!(
        storage
            .accept_invite("hash-1", "Eve", "other", "127.0.0.1", now)
            .await
            .unwrap_err(),
        StorageError::NotFound
    ));
    let later = now + Duration::days(7) + Duration::seconds(1);
    assert!(storage
        .find_invite("hash-2", later)
        .await
        .unwrap()
        .is_none());
    assert!(storage
        .accept_invite("hash-2", "Late", "h", "127.0.0.1", later)
        .await
        .is_err());
    let members = storage
        .list_members(
            &org.id,
            &MemberListQuery::default(),
            PageRequest::new(None, 50),
        )
        .await
        .unwrap();
    assert_eq!(members.total, 1, "only the accepted invite made a member");
}

#[tokio::test]
async fn accepting_an_invite_promotes_an_existing_member() {
    let (storage, _dir, org, now) = with_contoso().await;
    let m = storage
        .create_member(
            &org.id,
            &member("ada@contoso.com", "ada@contoso.com", "Ada"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    storage
        .create_invite(
            &NewInvite {
                organization_id: &org.id,
                email: ("ADA@contoso.com", "ada@contoso.com"),
                token_hash: "h",
                expires_at: now + Duration::days(7),
                detail: "",
            },
            &actor(),
            now,
        )
        .await
        .unwrap();
    let admin = storage
        .accept_invite("h", "Ada L.", "argon", "127.0.0.1", now)
        .await
        .unwrap();
    assert_eq!(admin.id, m.id);
    assert_eq!(admin.role, "admin");
    assert_eq!(
        storage
            .find_admin_credentials("ada@contoso.com")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_first_run_link_is_single_use_and_expires() {
    let (storage, _dir) = fresh_storage().await;
    let now = OffsetDateTime::now_utc();
    storage
        .create_first_run_link("old", now + Duration::hours(1), now)
        .await
        .unwrap();
    storage
        .create_first_run_link("new", now + Duration::hours(1), now)
        .await
        .unwrap();
    assert!(
        storage
            .find_first_run_link("old", now)
            .await
            .unwrap()
            .is_none(),
        "a new start replaces the old link"
    );
    assert!(storage
        .find_first_run_link("new", now + Duration::hours(2))
        .await
        .unwrap()
        .is_none());
    storage
        .create_first_operator(
            "new",
            ("ops@vendor.example", "ops@vendor.example"),
            "Ops",
            "h",
            &actor(),
            now,
        )
        .await
        .unwrap();
    assert!(matches!(
        storage
            .create_first_operator(
                "new",
                ("eve@evil.example", "eve@evil.example"),
                "Eve",
                "h",
                &actor(),
                now
            )
            .await
            .unwrap_err(),
        StorageError::NotFound
    ));
    assert_eq!(storage.operator_count().await.unwrap(), 1);
}

#[tokio::test]
async fn deleting_an_organization_removes_its_members_but_keeps_its_audit_trail() {
    let (storage, _dir, org, now) = with_contoso().await;
    storage
        .create_member(
            &org.id,
            &member("a@contoso.com", "a@contoso.com", "A"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    storage
        .delete_organization(&org.id, &actor(), now)
        .await
        .unwrap();
    assert!(storage.find_organization(&org.id).await.unwrap().is_none());
    assert_eq!(
        storage
            .list_members(
                &org.id,
                &MemberListQuery::default(),
                PageRequest::new(None, 50)
            )
            .await
            .unwrap()
            .total,
        0
    );
    let audit = storage
        .list_audit(&org.id, PageRequest::new(None, 50))
        .await
        .unwrap();
    let actions: Vec<_> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "organization.delete",
            "member.create",
            "organization.create"
        ],
        "newest first"
    );
    assert!(matches!(
        storage.delete_organization(&org.id, &actor(), now).await,
        Err(StorageError::NotFound)
    ));
}

#[tokio::test]
async fn sessions_are_stored_loaded_and_expire() {
    let (storage, _dir) = fresh_storage().await;
    let record = SessionRecord {
        id: "s1",
        data: "{}",
        expires_at: 2_000,
        directory_sid: None,
    };
    assert!(storage.insert_session(&record).await.unwrap());
    assert!(
        !storage.insert_session(&record).await.unwrap(),
        "ids are never reused"
    );
    storage
        .save_session("s1", r#"{"a":1}"#, 3_000)
        .await
        .unwrap();
    assert_eq!(
        storage.load_session("s1", 1_000).await.unwrap(),
        Some((r#"{"a":1}"#.to_string(), 3_000))
    );
    assert_eq!(
        storage.load_session("s1", 3_000).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(storage.delete_expired_sessions(3_000).await.unwrap(), 1);
}

#[tokio::test]
async fn member_updates_are_audited_with_what_changed() {
    let (storage, _dir, org, now) = with_contoso().await;
    let m = storage
        .create_member(
            &org.id,
            &member("a@contoso.com", "a@contoso.com", "A"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    let update = MemberUpdate {
        role: Some("admin"),
        status: Some("disabled"),
        ..Default::default()
    };
    let updated = storage
        .update_member(&org.id, &m.id, &update, &actor(), now)
        .await
        .unwrap();
    assert_eq!(
        (updated.role.as_str(), updated.status.as_str()),
        ("admin", "disabled")
    );
    let audit = storage
        .list_audit(&org.id, PageRequest::new(None, 1))
        .await
        .unwrap();
    assert_eq!(audit.items[0].action, "member.update");
    assert_eq!(
        audit.items[0].detail,
        "role: member → admin; status: active → disabled"
    );
    assert_eq!(audit.items[0].actor, "operator:ops@vendor.example");
    assert_eq!(audit.total, 3);
}

const TENANT: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";
const OID: &str = "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f";

fn map_to(oid: &str) -> MemberUpdate<'_> {
    MemberUpdate {
        directory_identity: Some(Some(DirectoryIdentity::new(TENANT, oid))),
        ..MemberUpdate::default()
    }
}

/// On SQLite the sign-in reads its member on a second connection, mapping the row's columns by
/// position: every field must come back as the one the rest of Gatehouse reads.
#[tokio::test]
async fn the_sign_in_reads_a_member_as_the_rest_of_gatehouse_does() {
    use gatehouse::storage::{AuditEntry, UsedState};
    let (storage, _dir, org, created) = with_contoso().await;
    let simon = storage
        .create_member(
            &org.id,
            &member("B.Simon@x.com", "b.simon@x.com", "B. Simon"),
            &actor(),
            created,
        )
        .await
        .unwrap();
    let mapped = created + Duration::seconds(1);
    let identity = DirectoryIdentity {
        user_principal_name: Some("b.simon@contoso.example"),
        ..DirectoryIdentity::new(TENANT, OID)
    };
    let update = MemberUpdate {
        directory_identity: Some(Some(identity)),
        ..MemberUpdate::default()
    };
    storage
        .update_member(&org.id, &simon.id, &update, &actor(), mapped)
        .await
        .unwrap();
    let signed_in = mapped + Duration::seconds(1);
    let expires_at = gatehouse::clock::to_millis(signed_in + Duration::minutes(10));
    storage
        .record_sso_sign_in(
            &org.id,
            &simon.id,
            &AuditEntry::success(Some(&org.id), "sso.sign_in", OID),
            &actor(),
            &SessionRecord {
                id: "session-of-simon",
                data: "{}",
                expires_at,
                directory_sid: None,
            },
            None,
            UsedState {
                state_hash: "s1",
                expires_at,
            },
            signed_in,
        )
        .await
        .unwrap();

    let by_identity = storage
        .find_member_by_directory_identity(&org.id, TENANT, OID)
        .await
        .unwrap()
        .expect("mapped");
    let by_id = storage.find_member(&org.id, &simon.id).await.unwrap();
    assert_eq!(Some(&by_identity), by_id.as_ref());
    // Fields of the same type hold different values, so two columns read in each other's
    // place would show.
    assert_eq!(by_identity.email.as_deref(), Some("B.Simon@x.com"));
    assert_eq!(by_identity.display_name, "B. Simon");
    assert_eq!(
        by_identity.directory_upn.as_deref(),
        Some("b.simon@contoso.example")
    );
    assert_eq!(
        by_identity.last_sso_sign_in_at,
        Some(gatehouse::clock::to_millis(signed_in))
    );
    assert_eq!(by_identity.created_at, gatehouse::clock::to_millis(created));
    assert_eq!(by_identity.updated_at, gatehouse::clock::to_millis(mapped));
}

#[tokio::test]
async fn a_directory_user_maps_to_one_member_per_organization() {
    let (storage, _dir) = fresh_storage().await;
    let now = OffsetDateTime::now_utc();
    let contoso = storage
        .create_organization("Contoso", "contoso", &actor(), now)
        .await
        .unwrap();
    let fabrikam = storage
        .create_organization("Fabrikam", "fabrikam", &actor(), now)
        .await
        .unwrap();
    let simon = storage
        .create_member(
            &contoso.id,
            &member("s@x.com", "s@x.com", "B. Simon"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    let adele = storage
        .create_member(
            &contoso.id,
            &member("a@x.com", "a@x.com", "Adele"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    storage
        .update_member(&contoso.id, &simon.id, &map_to(OID), &actor(), now)
        .await
        .unwrap();
    let taken = storage
        .update_member(&contoso.id, &adele.id, &map_to(OID), &actor(), now)
        .await
        .unwrap_err();
    assert!(
        matches!(&taken, StorageError::HeldBy(name) if name == "B. Simon"),
        "{taken:?}"
    );
    let found = storage
        .find_member_by_directory_identity(&contoso.id, TENANT, OID)
        .await
        .unwrap()
        .expect("mapped");
    assert_eq!(found.id, simon.id);
    assert!(
        storage
            .find_member_by_directory_identity(&fabrikam.id, TENANT, OID)
            .await
            .unwrap()
            .is_none(),
        "another organization's member is not found by this identity"
    );
    // Another organization may map the same directory user to its own member.
    let other = storage
        .create_member(
            &fabrikam.id,
            &member("s@x.com", "s@x.com", "Simon at Fabrikam"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    storage
        .update_member(&fabrikam.id, &other.id, &map_to(OID), &actor(), now)
        .await
        .unwrap();
    // Unmapping frees the identity.
    let unmapped = storage
        .update_member(
            &contoso.id,
            &simon.id,
            &MemberUpdate {
                directory_identity: Some(None),
                ..MemberUpdate::default()
            },
            &actor(),
            now,
        )
        .await
        .unwrap();
    assert!(unmapped.directory_object_id.is_none());
    storage
        .update_member(&contoso.id, &adele.id, &map_to(OID), &actor(), now)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_mappings_of_one_directory_user_leave_exactly_one() {
    let (storage, _dir, org, now) = with_contoso().await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let email = format!("m{i}@x.com");
        let m = storage
            .create_member(
                &org.id,
                &member(&email, &email, &format!("M{i}")),
                &actor(),
                now,
            )
            .await
            .unwrap();
        ids.push(m.id);
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (storage, org, id) = (storage.clone(), org.id.clone(), id.clone());
            tokio::spawn(async move {
                storage
                    .update_member(&org, &id, &map_to(OID), &actor(), now)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(StorageError::HeldBy(_) | StorageError::Conflict("directory_object_id")) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one member holds the Object ID");
}

#[tokio::test]
async fn a_sign_in_state_is_used_once_by_its_outcome_and_then_forgotten() {
    use gatehouse::storage::{AuditEntry, UsedState};
    let (storage, _dir, org, now) = with_contoso().await;
    let zoe = storage
        .create_member(
            &org.id,
            &member("zoe@x.com", "zoe@x.com", "Zoe"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    let expires_at = gatehouse::clock::to_millis(now + Duration::minutes(10));
    let s1 = UsedState {
        state_hash: "s1",
        expires_at,
    };
    // A refused sign-in uses its state; the same state refused again changes nothing.
    let refused = AuditEntry {
        outcome: "failure",
        ..AuditEntry::success(Some(&org.id), "sso.sign_in", "-")
    };
    let first = storage
        .record_sso_failure(&org.id, "refused", &refused, &actor(), Some(s1), now)
        .await
        .unwrap();
    assert!(first, "the state's first use");
    assert!(storage.sign_in_state_used("s1").await.unwrap());
    let replay = storage
        .record_sso_failure(&org.id, "refused", &refused, &actor(), Some(s1), now)
        .await
        .unwrap();
    assert!(!replay, "a replay");

    // A used state starts no session, and writes nothing of the sign-in.
    let session = SessionRecord {
        id: "session-of-zoe",
        data: "{}",
        expires_at,
        directory_sid: None,
    };
    let signed_in = AuditEntry::success(Some(&org.id), "sso.sign_in", OID);
    let sign_in = |used| {
        let (storage, org, zoe) = (&storage, &org.id, &zoe.id);
        let (signed_in, session) = (&signed_in, &session);
        async move {
            let zoe_signs_in = actor();
            storage
                .record_sso_sign_in(org, zoe, signed_in, &zoe_signs_in, session, None, used, now)
                .await
        }
    };
    let replayed = sign_in(s1).await;
    assert!(matches!(replayed, Err(StorageError::Conflict("state"))));
    assert!(storage
        .load_session("session-of-zoe", expires_at - 1)
        .await
        .unwrap()
        .is_none());
    let s2 = UsedState {
        state_hash: "s2",
        expires_at,
    };
    sign_in(s2).await.unwrap();
    assert!(storage
        .load_session("session-of-zoe", expires_at - 1)
        .await
        .unwrap()
        .is_some());
    // A session id taken already fails the sign-in's last write, and undoes the ones before
    // it: no audit entry, and the state is not kept as used.
    let s3 = UsedState {
        state_hash: "s3",
        expires_at,
    };
    assert!(matches!(
        sign_in(s3).await,
        Err(StorageError::Conflict("session"))
    ));
    assert!(!storage.sign_in_state_used("s3").await.unwrap());
    let audit = storage
        .list_audit(&org.id, PageRequest::new(None, 50))
        .await
        .unwrap();
    let sign_ins: Vec<_> = audit
        .items
        .iter()
        .filter(|e| e.action == "sso.sign_in")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(sign_ins, ["success", "failure", "failure"]);
    assert!(audit.items[1].detail.contains("replay"));
    assert!(!audit.items[2].detail.contains("replay"));

    // Once their attempts have expired, used states are forgotten.
    let late = now + Duration::minutes(10);
    assert_eq!(
        storage.delete_expired_sign_in_states(late).await.unwrap(),
        2
    );
    assert!(!storage.sign_in_state_used("s1").await.unwrap());
}

#[tokio::test]
async fn members_are_searched_filtered_and_sorted() {
    use gatehouse::storage::{MemberFilter, MemberSort};
    let (storage, _dir, org, now) = with_contoso().await;
    let mut ids = Vec::new();
    for (email, name) in [
        ("zoe@x.com", "Zoe"),
        ("adam@x.com", "Adam"),
        ("mia@x.com", "Mia"),
    ] {
        let m = storage
            .create_member(&org.id, &member(email, email, name), &actor(), now)
            .await
            .unwrap();
        ids.push(m.id);
    }
    // Zoe is mapped and selected; Adam is mapped; Mia is neither.
    storage
        .update_member(
            &org.id,
            &ids[0],
            &MemberUpdate {
                sso_enabled: Some(true),
                ..map_to(OID)
            },
            &actor(),
            now,
        )
        .await
        .unwrap();
    storage
        .update_member(
            &org.id,
            &ids[1],
            &map_to("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
            &actor(),
            now,
        )
        .await
        .unwrap();
    // Zoe signed in now, Adam forty days ago, Mia never.
    for (member, who, at) in [
        (&ids[0], "zoe", now),
        (&ids[1], "adam", now - Duration::days(40)),
    ] {
        let entry = gatehouse::storage::AuditEntry::success(Some(&org.id), "sso.sign_in", who);
        let session_id = format!("session-of-{who}");
        let state_hash = format!("state-of-{who}");
        let session = SessionRecord {
            id: &session_id,
            data: "{}",
            expires_at: gatehouse::clock::to_millis(at + Duration::hours(1)),
            directory_sid: None,
        };
        let used = gatehouse::storage::UsedState {
            state_hash: &state_hash,
            expires_at: session.expires_at,
        };
        storage
            .record_sso_sign_in(&org.id, member, &entry, &actor(), &session, None, used, at)
            .await
            .unwrap();
    }
    let names = |filter, sort, search: &'static str| {
        let storage = storage.clone();
        let org = org.id.clone();
        async move {
            let query = MemberListQuery {
                search,
                filter,
                sort,
                signed_in_since: gatehouse::clock::to_millis(now - Duration::days(30)),
            };
            storage
                .list_members(&org, &query, PageRequest::new(None, 50))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|m| m.display_name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(MemberFilter::All, MemberSort::Name, "").await,
        ["Adam", "Mia", "Zoe"]
    );
    assert_eq!(
        names(MemberFilter::Mapped, MemberSort::Name, "").await,
        ["Adam", "Zoe"]
    );
    assert_eq!(
        names(MemberFilter::Unmapped, MemberSort::Name, "").await,
        ["Mia"]
    );
    assert_eq!(
        names(MemberFilter::SsoEnabled, MemberSort::Name, "").await,
        ["Zoe"]
    );
    assert_eq!(
        names(MemberFilter::RecentSso, MemberSort::Name, "").await,
        ["Zoe"]
    );
    assert_eq!(
        names(MemberFilter::All, MemberSort::LastSignIn, "").await,
        ["Zoe", "Adam", "Mia"],
        "the newest sign-in first, never signed in last"
    );
    assert_eq!(
        names(MemberFilter::Mapped, MemberSort::LastSignIn, "").await,
        ["Zoe", "Adam"]
    );
    assert_eq!(
        names(MemberFilter::RecentSso, MemberSort::LastSignIn, "x.com").await,
        ["Zoe"],
        "a search of recent sign-ins"
    );
    assert_eq!(
        names(MemberFilter::Unmapped, MemberSort::LastSignIn, "x.com").await,
        ["Mia"]
    );
    assert_eq!(
        names(MemberFilter::All, MemberSort::Name, "3b2e8a").await,
        ["Zoe"],
        "an Object ID prefix"
    );
    assert_eq!(
        names(MemberFilter::All, MemberSort::Name, "3B2E8A4F-5C1D").await,
        ["Zoe"],
        "an Object ID prefix in capitals"
    );
    assert!(
        names(MemberFilter::All, MemberSort::Name, "2e8a4f")
            .await
            .is_empty(),
        "an Object ID is found by its beginning only: letters inside it are noise"
    );
    assert!(
        names(MemberFilter::All, MemberSort::Name, "%")
            .await
            .is_empty(),
        "wildcards are plain text"
    );
    assert_eq!(
        names(MemberFilter::All, MemberSort::Email, "X.COM").await,
        ["Adam", "Mia", "Zoe"]
    );
    assert_eq!(
        names(MemberFilter::All, MemberSort::LastSignIn, "x.com").await,
        names(MemberFilter::All, MemberSort::LastSignIn, "").await,
        "a search merges its matches in the list's order: the newest sign-in first, then by id"
    );
    let past_the_end = storage
        .list_members(
            &org.id,
            &MemberListQuery {
                search: "x.com",
                ..MemberListQuery::default()
            },
            PageRequest::new(Some(9), 50),
        )
        .await
        .unwrap();
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 3, "a page past the end still counts");
}

/// A search matching more members than one sorting pass handles walks the order index: every
/// page, order and filter must still come out exactly as sorting all matches would give.
#[tokio::test]
async fn broad_searches_page_like_narrow_ones() {
    use gatehouse::storage::{MemberFilter, MemberSort};
    let (storage, _dir, org, now) = with_contoso().await;
    const MEMBERS: usize = 6_000;
    let creates: Vec<ImportedMember> = (0..MEMBERS)
        .map(|i| {
            // Names out of insertion order, with ties broken by id; every third is mapped.
            let name = format!("{} {}", ["Lee", "Ada", "Mia"][i % 3], (i * 7919) % 1000);
            ImportedMember {
                object_id: (i % 3 == 0).then(|| object_id(i)),
                sso_enabled: i % 2 == 0,
                ..imported_member(i, name)
            }
        })
        .collect();
    import_members(
        &storage,
        &org.id,
        Some("72f988bf-86f1-41af-91ab-2d7cd011db47"),
        creates,
        now,
    )
    .await
    .unwrap();
    let everyone = MemberListQuery::default();
    let all = |query: MemberListQuery<'static>| {
        let storage = storage.clone();
        let org = org.id.clone();
        async move {
            let mut seen = Vec::new();
            let mut page = 1;
            loop {
                let got = storage
                    .list_members(&org, &query, PageRequest::new(Some(page), 500))
                    .await
                    .unwrap();
                if got.items.is_empty() {
                    return (seen, got.total);
                }
                seen.extend(got.items.into_iter().map(|m| m.id));
                page += 1;
            }
        }
    };
    for sort in [MemberSort::Name, MemberSort::Email, MemberSort::LastSignIn] {
        for filter in [
            MemberFilter::All,
            MemberFilter::Mapped,
            MemberFilter::SsoEnabled,
        ] {
            let listed = all(MemberListQuery {
                sort,
                filter,
                ..everyone
            })
            .await;
            let searched = all(MemberListQuery {
                search: "CONTOSO",
                sort,
                filter,
                ..everyone
            })
            .await;
            assert_eq!(searched, listed, "{sort:?} {filter:?}");
        }
    }
    // The list in last sign-in order reads its own table's copies of the filtered columns:
    // the same members as the list by name, for every filter.
    for filter in [
        MemberFilter::Mapped,
        MemberFilter::Unmapped,
        MemberFilter::SsoEnabled,
    ] {
        let by = |sort| {
            all(MemberListQuery {
                sort,
                filter,
                ..everyone
            })
        };
        let (mut by_sign_in, total) = by(MemberSort::LastSignIn).await;
        let (mut by_name, _) = by(MemberSort::Name).await;
        by_sign_in.sort();
        by_name.sort();
        assert_eq!(by_sign_in, by_name, "{filter:?}");
        assert!(total > 0 && total < MEMBERS as i64, "{filter:?}: {total}");
    }
    // Every mapped member's Object ID starts with "0000"; no name or email has "-4000-8000".
    assert_eq!(
        all(MemberListQuery {
            search: "0000",
            filter: MemberFilter::Mapped,
            ..everyone
        })
        .await,
        all(MemberListQuery {
            filter: MemberFilter::Mapped,
            ..everyone
        })
        .await,
        "an Object ID prefix"
    );
    assert_eq!(
        all(MemberListQuery {
            search: "-4000-8000",
            ..everyone
        })
        .await,
        (Vec::new(), 0),
        "the middle of an Object ID"
    );
    let (listed, total) = all(MemberListQuery::default()).await;
    assert_eq!(total, MEMBERS as i64);
    assert_eq!(listed.len(), MEMBERS);
    // "ada" matches a third of the members, 2,000: few enough to be sorted in one pass.
    let (adas, total) = all(MemberListQuery {
        search: "ada",
        ..everyone
    })
    .await;
    assert_eq!(total, 2_000);
    assert_eq!(adas, listed[..2_000], "Ada sorts first by name");
    let beyond = storage
        .list_members(
            &org.id,
            &MemberListQuery {
                search: "contoso",
                ..everyone
            },
            PageRequest::new(Some(500), 50),
        )
        .await
        .unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(
        beyond.total, MEMBERS as i64,
        "a page past the end still counts"
    );
}

/// SQLite reads a search in two halves of its search index; a half with more matches than it
/// sorts leaves the page to the walk and is counted on its own. Pages and totals must come out
/// as the unsearched list gives them, whether both halves have many matches or only one.
/// The list in last sign-in order reads copies of the filtered and searched columns kept with
/// each member's last sign-in: an import that renames, maps and selects members must show there
/// as everywhere else, also in a search broad enough to be walked.
#[tokio::test]
async fn the_list_in_last_sign_in_order_follows_changes_to_members() {
    use gatehouse::storage::ImportedUpdate;
    use gatehouse::storage::{MemberFilter, MemberSort};
    const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const MEMBERS: usize = 6_000;
    let (storage, _dir, org, now) = with_contoso().await;
    let creates = (0..MEMBERS)
        .map(|i| imported_member(i, format!("Lee {i}")))
        .collect();
    import_members(&storage, &org.id, Some(TENANT_ID), creates, now)
        .await
        .unwrap();
    let all = |search, filter, sort| {
        let query = MemberListQuery {
            search,
            filter,
            sort,
            ..MemberListQuery::default()
        };
        list_page(&storage, &org.id, query, PageRequest::new(Some(1), 10_000))
    };
    let (members, _) = all("", MemberFilter::All, MemberSort::Name).await;
    // Every member renamed; every second one mapped, every third one selected for SSO.
    let updates = members
        .iter()
        .enumerate()
        .map(|(i, m)| ImportedUpdate {
            id: m.id.clone(),
            display_name: format!("Renamed {i}"),
            role: "member",
            object_id: (i % 2 == 0).then(|| object_id(i)),
            object_changed: i % 2 == 0,
            sso_enabled: i % 3 == 0,
        })
        .collect();
    let changes = ImportChanges {
        updates,
        ..ImportChanges::default()
    };
    apply_import(&storage, &org.id, Some(TENANT_ID), changes, now)
        .await
        .unwrap();
    let ids = |items: Vec<gatehouse::storage::MemberRecord>| {
        let mut ids: Vec<_> = items.into_iter().map(|m| m.id).collect();
        ids.sort();
        ids
    };
    for (filter, expected) in [
        (MemberFilter::All, MEMBERS),
        (MemberFilter::Mapped, MEMBERS / 2),
        (MemberFilter::Unmapped, MEMBERS / 2),
        (MemberFilter::SsoEnabled, MEMBERS / 3),
    ] {
        let (by_name, total) = all("", filter, MemberSort::Name).await;
        assert_eq!(total, expected as i64, "{filter:?}");
        let (by_sign_in, total) = all("", filter, MemberSort::LastSignIn).await;
        assert_eq!(total, expected as i64, "{filter:?}");
        let (renamed, total) = all("renamed", filter, MemberSort::LastSignIn).await;
        assert_eq!(total, expected as i64, "{filter:?}, searched");
        assert_eq!(ids(by_sign_in), ids(by_name.clone()), "{filter:?}");
        assert_eq!(ids(renamed), ids(by_name), "{filter:?}, searched");
    }
    assert_eq!(
        all("lee", MemberFilter::All, MemberSort::LastSignIn)
            .await
            .1,
        0,
        "the old names are gone"
    );
}

#[tokio::test]
async fn searches_with_many_matches_in_either_half_page_like_the_list() {
    use gatehouse::storage::{MemberFilter, MemberSort};
    let (storage, _dir, org, now) = with_contoso().await;
    const ADAS: usize = 12_000;
    const MEMBERS: usize = 21_000;
    let creates: Vec<ImportedMember> = (0..MEMBERS)
        .map(|i| {
            let name = if i < ADAS { "Ada" } else { "Zed" };
            ImportedMember {
                sso_enabled: i % 2 == 0,
                ..imported_member(i, format!("{name} {}", (i * 7919) % 5000))
            }
        })
        .collect();
    import_members(&storage, &org.id, None, creates, now)
        .await
        .unwrap();
    let page_of = |search, filter, number| {
        let query = MemberListQuery {
            search,
            filter,
            sort: MemberSort::Name,
            ..MemberListQuery::default()
        };
        let page = list_page(
            &storage,
            &org.id,
            query,
            PageRequest::new(Some(number), 100),
        );
        async move {
            let (items, total) = page.await;
            (items.into_iter().map(|m| m.id).collect::<Vec<_>>(), total)
        }
    };
    // Everyone matches "contoso": both halves have more than they sort.
    for number in [1, 105, 210, 211] {
        let (listed, total) = page_of("", MemberFilter::All, number).await;
        assert_eq!(total, MEMBERS as i64);
        assert_eq!(
            page_of("contoso", MemberFilter::All, number).await,
            (listed, total)
        );
    }
    let (listed, total) = page_of("", MemberFilter::SsoEnabled, 60).await;
    assert_eq!(total, (MEMBERS / 2) as i64);
    assert_eq!(
        page_of("contoso", MemberFilter::SsoEnabled, 60).await,
        (listed, total)
    );
    // The Adas sort first: the first half has only Adas, the second a few and every Zed.
    let (first, total) = page_of("ada", MemberFilter::All, 1).await;
    assert_eq!(total, ADAS as i64);
    assert_eq!(first, page_of("", MemberFilter::All, 1).await.0);
    let (last, total) = page_of("ada", MemberFilter::All, 120).await;
    assert_eq!(total, ADAS as i64);
    assert_eq!(last, page_of("", MemberFilter::All, 120).await.0);
    assert!(page_of("ada", MemberFilter::All, 121).await.0.is_empty());
}

#[tokio::test]
async fn a_write_that_fails_half_way_leaves_nothing_and_the_next_write_goes_through() {
    let (storage, _dir, org, now) = with_contoso().await;
    let member = |i: usize| imported_member(i, format!("User {i}"));
    // The first rows go in; the last one repeats the first email, so the import fails after
    // it has written.
    let mut creates: Vec<ImportedMember> = (0..450).map(member).collect();
    creates.push(member(0));
    let failed = import_members(&storage, &org.id, None, creates, now).await;
    assert!(
        matches!(failed, Err(StorageError::Conflict("email"))),
        "{failed:?}"
    );
    let listed = |storage: gatehouse::storage::Storage, org: String| async move {
        storage
            .list_members(
                &org,
                &MemberListQuery::default(),
                PageRequest::new(None, 50),
            )
            .await
            .unwrap()
            .total
    };
    assert_eq!(listed(storage.clone(), org.id.clone()).await, 0);
    storage
        .create_member(
            &org.id,
            &NewMember {
                email: Some(("after@contoso.com", "after@contoso.com")),
                display_name: "After",
                role: "member",
            },
            &actor(),
            now,
        )
        .await
        .unwrap();
    assert_eq!(listed(storage.clone(), org.id.clone()).await, 1);
}

#[tokio::test]
async fn a_sign_in_reads_its_organization_as_changed_at_once() {
    use gatehouse::storage::{AuditEntry, OrganizationKey};
    let (storage, _dir, org, now) = with_contoso().await;
    let read = |key: &'static str| {
        let storage = storage.clone();
        let id = org.id.clone();
        async move {
            let key = match key {
                "slug" => OrganizationKey::Slug("contoso"),
                _ => OrganizationKey::Id(&id),
            };
            storage.find_sign_in_organization(key).await.unwrap()
        }
    };
    let active = |found: Option<gatehouse::storage::SignInOrganization>| {
        found.expect("contoso").active_config
    };
    assert_eq!(active(read("slug").await), None);
    let entry = AuditEntry::success(Some(&org.id), "connection.draft.credentials", "-");
    storage
        .save_connection_draft(&org.id, 0, r#"{"v":1}"#, &entry, &actor(), now)
        .await
        .unwrap();
    assert_eq!(active(read("id").await), None, "a draft is not active");
    storage
        .activate_connection(&org.id, 1, &[], &actor(), now)
        .await
        .unwrap();
    assert_eq!(active(read("slug").await).as_deref(), Some(r#"{"v":1}"#));
    assert_eq!(active(read("id").await).as_deref(), Some(r#"{"v":1}"#));
    storage
        .disable_connection(&org.id, &actor(), now)
        .await
        .unwrap();
    assert_eq!(active(read("slug").await), None, "disabled at once");
    assert_eq!(active(read("id").await), None);
    let renamed = now + Duration::seconds(1);
    storage
        .rename_organization(&org.id, "Contoso Ltd", &actor(), renamed)
        .await
        .unwrap();
    let organization = read("id").await.unwrap().organization;
    assert_eq!(organization.name, "Contoso Ltd");
    // On SQLite this read maps its columns by position: every field as the rest of Gatehouse
    // reads it (no members, so the count it leaves at 0 is the true one).
    assert_eq!(
        Some(organization),
        storage.find_organization(&org.id).await.unwrap()
    );
    storage
        .delete_organization(&org.id, &actor(), now)
        .await
        .unwrap();
    assert!(read("slug").await.is_none());
    assert!(read("id").await.is_none());
}

#[tokio::test]
async fn a_lease_is_held_by_one_instance_until_it_expires_or_is_given_up() {
    let (storage, _dir) = fresh_storage().await;
    assert!(storage
        .take_lease("mail", "one", 1_000, 6_000)
        .await
        .unwrap());
    assert!(!storage
        .take_lease("mail", "two", 5_999, 10_999)
        .await
        .unwrap());
    // The holder renews it; another job's lease is another matter.
    assert!(storage
        .take_lease("mail", "one", 5_000, 10_000)
        .await
        .unwrap());
    assert!(storage
        .take_lease("logouts", "two", 5_000, 10_000)
        .await
        .unwrap());
    assert!(!storage
        .take_lease("mail", "two", 9_999, 14_999)
        .await
        .unwrap());
    // Not renewed in time: another instance takes it.
    assert!(storage
        .take_lease("mail", "two", 10_000, 15_000)
        .await
        .unwrap());
    assert!(!storage
        .take_lease("mail", "one", 10_001, 15_001)
        .await
        .unwrap());
    assert_eq!(
        storage.lease_holder("mail").await.unwrap(),
        Some(("two".to_string(), 15_000))
    );
    // Given up: taken at once.
    storage.release_lease("mail", "one").await.unwrap();
    assert_eq!(
        storage.lease_holder("mail").await.unwrap().unwrap().0,
        "two"
    );
    storage.release_lease("mail", "two").await.unwrap();
    assert!(storage
        .take_lease("mail", "one", 10_002, 15_002)
        .await
        .unwrap());
}

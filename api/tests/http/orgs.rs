//! Organisations, members, roles and invitations.
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

#[allow(unused_imports)]
use crate::common::*;

both_backends! {
    async fn creating_an_org_makes_the_creator_owner_and_leaves_one_outbox_row(app: TestApp) {
        let ann = app.user("ann").await;
        let r = app.post("/orgs", &ann, json!({"name": "Acme"})).await;
        assert_eq!(r.expect(201)["role"], "owner");
        let id = r.id();
        assert_eq!(app.outbox_count("org.created").await, 1);
        let got = app.get(&format!("/orgs/{id}"), &ann).await;
        assert_eq!(got.expect(200)["name"], "Acme");
        let list = app.get("/orgs", &ann).await;
        assert_eq!(list.expect(200).as_array().unwrap().len(), 1);
        app.post("/orgs", &ann, json!({"name": ""})).await.expect_problem(422, "validation_failed");
        app.post("/orgs", &ann, json!({"name": ["Acme"]})).await.expect_problem(400, "bad_request");
    }

    async fn renaming_needs_admin_and_deleting_needs_owner(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let cat = app.user("cat").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "admin").await;
        app.add_member(org, &ann, &cat, "member").await;
        app.patch(&format!("/orgs/{org}"), &cat, json!({"name": "Nope"})).await.expect_problem(403, "insufficient_role");
        let r = app.patch(&format!("/orgs/{org}"), &bob, json!({"name": "Acme Ltd"})).await;
        assert_eq!(r.expect(200)["name"], "Acme Ltd");
        assert_eq!(app.outbox_count("org.renamed").await, 1);
        app.delete(&format!("/orgs/{org}"), &bob).await.expect_problem(403, "insufficient_role");
        app.delete(&format!("/orgs/{org}"), &ann).await.expect(204);
        app.get(&format!("/orgs/{org}"), &ann).await.expect_problem(404, "org_not_found");
        assert_eq!(app.count_rows("memberships").await, 0);
        assert_eq!(app.outbox_count("org.deleted").await, 1);
    }

    async fn roles_change_within_the_rules_and_an_org_keeps_an_owner(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let cat = app.user("cat").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "admin").await;
        app.add_member(org, &ann, &cat, "member").await;
        let members = app.get(&format!("/orgs/{org}/members"), &cat).await;
        assert_eq!(members.expect(200).as_array().unwrap().len(), 3);
        // Members cannot manage members.
        app.patch(&format!("/orgs/{org}/members/{}", bob.id), &cat, json!({"role": "guest"})).await
            .expect_problem(403, "insufficient_role");
        // Admins cannot touch the owner role.
        app.patch(&format!("/orgs/{org}/members/{}", cat.id), &bob, json!({"role": "owner"})).await
            .expect_problem(403, "owner_required");
        app.patch(&format!("/orgs/{org}/members/{}", ann.id), &bob, json!({"role": "member"})).await
            .expect_problem(403, "owner_required");
        let r = app.patch(&format!("/orgs/{org}/members/{}", cat.id), &bob, json!({"role": "guest"})).await;
        assert_eq!(r.expect(200)["role"], "guest");
        app.patch(&format!("/orgs/{org}/members/{}", cat.id), &bob, json!({"role": "emperor"})).await
            .expect_problem(422, "validation_failed");
        // The last owner can neither be demoted nor leave.
        app.patch(&format!("/orgs/{org}/members/{}", ann.id), &ann, json!({"role": "admin"})).await
            .expect_problem(409, "last_owner");
        app.post(&format!("/orgs/{org}/leave"), &ann, json!({})).await.expect_problem(409, "last_owner");
        // With a second owner, the first may step down.
        app.patch(&format!("/orgs/{org}/members/{}", bob.id), &ann, json!({"role": "owner"})).await.expect(200);
        app.patch(&format!("/orgs/{org}/members/{}", ann.id), &ann, json!({"role": "admin"})).await.expect(200);
        assert_eq!(app.outbox_count("member.role_changed").await, 3);
        // Removing and leaving.
        app.delete(&format!("/orgs/{org}/members/{}", bob.id), &ann).await.expect_problem(403, "owner_required");
        app.delete(&format!("/orgs/{org}/members/{}", cat.id), &ann).await.expect(204);
        app.get(&format!("/orgs/{org}"), &cat).await.expect_problem(404, "org_not_found");
        app.post(&format!("/orgs/{org}/leave"), &ann, json!({})).await.expect(204);
        app.get(&format!("/orgs/{org}"), &ann).await.expect_problem(404, "org_not_found");
        assert_eq!(app.outbox_count("member.removed").await, 1);
        assert_eq!(app.outbox_count("member.left").await, 1);
    }

    async fn invitations_are_created_listed_revoked_and_accepted_once(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let eve = app.user("eve").await;
        let org = app.org(&ann, "Acme").await;
        let inv = app.post(&format!("/orgs/{org}/invitations"), &ann, json!({"email": bob.email, "role": "member"})).await;
        inv.expect(201);
        let token = inv.body["token"].as_str().unwrap().to_owned();
        let list = app.get(&format!("/orgs/{org}/invitations"), &ann).await;
        assert_eq!(list.expect(200).as_array().unwrap().len(), 1);
        assert!(list.body[0].get("token").is_none());
        // Only the invited address may accept.
        app.post("/invitations/accept", &eve, json!({"token": token})).await.expect_problem(403, "invitation_email_mismatch");
        let joined = app.post("/invitations/accept", &bob, json!({"token": token})).await;
        assert_eq!(joined.expect(200)["role"], "member");
        app.post("/invitations/accept", &bob, json!({"token": token})).await.expect_problem(409, "invitation_unusable");
        app.post("/invitations/accept", &bob, json!({"token": "garbage"})).await.expect_problem(404, "invitation_not_found");
        // Inviting a member again conflicts; a member cannot invite; bad input names fields.
        app.post(&format!("/orgs/{org}/invitations"), &ann, json!({"email": bob.email, "role": "member"})).await
            .expect_problem(409, "already_member");
        app.post(&format!("/orgs/{org}/invitations"), &bob, json!({"email": eve.email, "role": "member"})).await
            .expect_problem(403, "insufficient_role");
        let bad = app.post(&format!("/orgs/{org}/invitations"), &ann, json!({"email": "x", "role": "king"})).await;
        bad.expect_problem(422, "validation_failed");
        assert_eq!(bad.bad_fields(), ["email", "role"]);
        // Revoked invitations cannot be used.
        let inv2 = app.post(&format!("/orgs/{org}/invitations"), &ann, json!({"email": eve.email, "role": "guest"})).await;
        let id = inv2.id_at("invitation");
        app.delete(&format!("/orgs/{org}/invitations/{id}"), &ann).await.expect(204);
        app.delete(&format!("/orgs/{org}/invitations/{id}"), &ann).await.expect_problem(404, "invitation_not_found");
        app.post("/invitations/accept", &eve, json!({"token": inv2.body["token"]})).await.expect_problem(409, "invitation_unusable");
        assert_eq!(app.outbox_count("invitation.created").await, 2);
        assert_eq!(app.outbox_count("invitation.accepted").await, 1);
        assert_eq!(app.outbox_count("invitation.revoked").await, 1);
    }

    async fn an_expired_invitation_cannot_be_accepted(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        let inv = app.post(&format!("/orgs/{org}/invitations"), &ann, json!({"email": bob.email, "role": "member"})).await;
        inv.expect(201);
        #[allow(clippy::disallowed_methods)] // the test ages the row directly
        entities::tables::invitations::Entity::update_many()
            .col_expr(
                entities::tables::invitations::Column::ExpiresAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
            )
            .exec(&app.db)
            .await
            .unwrap();
        app.post("/invitations/accept", &bob, json!({"token": inv.body["token"]})).await
            .expect_problem(409, "invitation_unusable");
        app.get(&format!("/orgs/{org}"), &bob).await.expect_problem(404, "org_not_found");
    }

    async fn another_orgs_ids_answer_404_on_every_org_route(app: TestApp) {
        let ann = app.user("ann").await;
        let zed = app.user("zed").await;
        let bob = app.user("bob").await;
        let mine = app.org(&ann, "Mine").await;
        let theirs = app.org(&zed, "Theirs").await;
        app.add_member(theirs, &zed, &bob, "member").await;
        let inv = app.post(&format!("/orgs/{theirs}/invitations"), &zed, json!({"email": "x@example.com", "role": "member"})).await;
        let inv_id = inv.id_at("invitation");
        let missing = Uuid::now_v7();
        for org in [theirs, missing] {
            app.get(&format!("/orgs/{org}"), &ann).await.expect_problem(404, "org_not_found");
            app.patch(&format!("/orgs/{org}"), &ann, json!({"name": "x"})).await.expect_problem(404, "org_not_found");
            app.delete(&format!("/orgs/{org}"), &ann).await.expect_problem(404, "org_not_found");
            app.get(&format!("/orgs/{org}/members"), &ann).await.expect_problem(404, "org_not_found");
            app.patch(&format!("/orgs/{org}/members/{}", bob.id), &ann, json!({"role": "guest"})).await.expect_problem(404, "org_not_found");
            app.delete(&format!("/orgs/{org}/members/{}", bob.id), &ann).await.expect_problem(404, "org_not_found");
            app.post(&format!("/orgs/{org}/leave"), &ann, json!({})).await.expect_problem(404, "org_not_found");
            app.post(&format!("/orgs/{org}/invitations"), &ann, json!({"email": "y@example.com", "role": "member"})).await.expect_problem(404, "org_not_found");
            app.get(&format!("/orgs/{org}/invitations"), &ann).await.expect_problem(404, "org_not_found");
            app.delete(&format!("/orgs/{org}/invitations/{inv_id}"), &ann).await.expect_problem(404, "org_not_found");
        }
        // Ids of another org's members and invitations, used inside my own org, are not found either.
        app.patch(&format!("/orgs/{mine}/members/{}", bob.id), &ann, json!({"role": "guest"})).await.expect_problem(404, "member_not_found");
        app.delete(&format!("/orgs/{mine}/members/{}", bob.id), &ann).await.expect_problem(404, "member_not_found");
        app.delete(&format!("/orgs/{mine}/invitations/{inv_id}"), &ann).await.expect_problem(404, "invitation_not_found");
        assert_eq!(app.get(&format!("/orgs/{theirs}/members"), &zed).await.expect(200).as_array().unwrap().len(), 2);
    }
}

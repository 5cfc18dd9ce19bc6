//! A webhook's recent deliveries at its Git server, and asking for one again (docs/operations.md
//! "Missed deliveries"): GitHub and GHES list a repository's, an organization's or an App's own
//! hook deliveries (`GET …/deliveries`, newest first, paged by `cursor`) and redeliver one
//! (`POST …/deliveries/{id}/attempts`, 202); GitLab lists a project hook's events of the last 7
//! days (`GET /projects/:id/hooks/:hook_id/events`, 17.2 and later, paged by `page`) and
//! resends one (`POST …/events/:id/resend`, 17.4 and later). Every URL comes from
//! [`Endpoint`], at the credential's API base; a next page is this URL with the server's cursor
//! or page number, never the `Link` header's URL.

use super::credentials::{Credential, ServerEntry};
use super::endpoint::{param_of, with_param, Endpoint, Hook};
use super::{GitApi, PostError, ServerApi};
use crate::ports::{NextPage, OutboundRequest};
use serde_json::Value;

/// The most of one page of deliveries read. A GitHub page of 100 is about 40 KB; GitLab's events
/// carry each delivery's whole payload (hundreds of KB for a large push).
pub const DELIVERY_PAGE_LIMIT: usize = 16 * 1024 * 1024;

/// One delivery as its server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    /// The delivery's id: each attempt (a redelivery too) has its own, and they grow.
    pub id: u64,
    /// What the delivery carried: the same for every attempt of one event (GitHub's
    /// `X-GitHub-Delivery`, GitLab's `Idempotency-Key`): the id `git-webhook` records.
    pub guid: String,
    /// The answer it got (0: none, such as a timeout or a refused connection).
    pub status_code: u16,
    pub event: String,
    /// When it was delivered (Unix seconds), where the server says.
    pub delivered_at: Option<i64>,
}

impl HookDelivery {
    /// Whether the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// Where a list of deliveries goes on: GitHub's `cursor`, GitLab's page number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageToken {
    Cursor(String),
    Page(u64),
}

/// One page of deliveries, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    pub deliveries: Vec<HookDelivery>,
    pub next: Option<PageToken>,
}

impl GitApi {
    /// One page of `hook`'s deliveries on the server of `entry` (`after`: the previous page's
    /// token; `None`, the newest).
    pub async fn hook_deliveries(
        &self,
        entry: &ServerEntry,
        hook: &Hook,
        after: Option<&PageToken>,
        now: i64,
    ) -> Result<DeliveryPage, PostError> {
        let first = Endpoint::HookDeliveries { hook }.url(&entry.base);
        let url = match after {
            None => first,
            Some(PageToken::Cursor(cursor)) => with_param(&first, "cursor", cursor),
            Some(PageToken::Page(n)) => with_param(&first, "page", &n.to_string()),
        };
        let mut request = self.hook_request(entry, hook, "GET", url, now).await?;
        request.limit = DELIVERY_PAGE_LIMIT;
        let response = self.send(&request, &entry.host).await?;
        if response.exceeded {
            return Err(self.unreadable(
                &entry.host,
                &response,
                format!("the answer exceeded {} MiB", DELIVERY_PAGE_LIMIT / (1024 * 1024)),
            ));
        }
        let deliveries =
            read_page(entry.api, &response.body).map_err(|why| self.unreadable(&entry.host, &response, why))?;
        let next = match (entry.api, response.next) {
            (ServerApi::GitLab, Some(NextPage::Number(n))) => Some(PageToken::Page(n)),
            (ServerApi::GitLab, Some(NextPage::Url(url))) => {
                param_of(&url, "page").and_then(|p| p.parse().ok()).map(PageToken::Page)
            }
            (_, Some(NextPage::Url(url))) => {
                param_of(&url, "cursor").filter(|c| valid_cursor(c)).map(PageToken::Cursor)
            }
            _ => None,
        };
        // An empty page ends the list whatever the headers say.
        let next = if deliveries.is_empty() { None } else { next };
        Ok(DeliveryPage { deliveries, next })
    }

    /// Asks the server to send delivery `delivery_id` of `hook` again (GitHub answers 202,
    /// GitLab 201).
    pub async fn redeliver(
        &self,
        entry: &ServerEntry,
        hook: &Hook,
        delivery_id: u64,
        now: i64,
    ) -> Result<u16, PostError> {
        let url = Endpoint::Redelivery { hook, delivery_id }.url(&entry.base);
        let request = self.hook_request(entry, hook, "POST", url, now).await?;
        self.send(&request, &entry.host).await.map(|r| r.status)
    }

    /// A request about `hook`: an App's own hook is asked with the App's JWT, any other with
    /// the entry's credential (a GitHub App's installation token included).
    async fn hook_request(
        &self,
        entry: &ServerEntry,
        hook: &Hook,
        method: &'static str,
        url: String,
        now: i64,
    ) -> Result<OutboundRequest, PostError> {
        let auth = match (hook, &entry.credential) {
            (Hook::App, Credential::GitHubApp(app)) => ("authorization", format!("Bearer {}", app.jwt(now)?)),
            (Hook::App, _) => {
                return Err(PostError::Refused(format!(
                    "{}: the App's own webhook needs the App's credentials (app_id, private_key)",
                    entry.key
                )))
            }
            _ => self.authorization(entry, now).await?,
        };
        Ok(super::json_request(entry.api, method, url, auth, None))
    }
}

/// A cursor a server may hand back: printable, short; anything else ends the list.
fn valid_cursor(cursor: &str) -> bool {
    (1..=200).contains(&cursor.len()) && cursor.bytes().all(|b| b.is_ascii_graphic())
}

/// A page of deliveries as `api`'s server answers it.
pub fn read_page(api: ServerApi, body: &[u8]) -> Result<Vec<HookDelivery>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "the list of deliveries is not JSON".to_owned())?;
    let items = doc.as_array().ok_or("the list of deliveries is not a JSON array")?;
    items
        .iter()
        .map(|item| match api {
            ServerApi::GitLab => gitlab_event(item),
            _ => github_delivery(item),
        })
        .collect()
}

/// GitHub's `hook-delivery-item`: `id`, `guid`, `status_code`, `event`, `delivered_at`.
fn github_delivery(item: &Value) -> Result<HookDelivery, String> {
    let id = item["id"].as_u64().ok_or("a delivery has no numeric id")?;
    let guid = item["guid"].as_str().filter(|g| valid_guid(g)).ok_or_else(|| format!("delivery {id} has no guid"))?;
    Ok(HookDelivery {
        id,
        guid: guid.to_owned(),
        status_code: item["status_code"].as_u64().and_then(|c| u16::try_from(c).ok()).unwrap_or(0),
        event: item["event"].as_str().unwrap_or_default().to_owned(),
        delivered_at: item["delivered_at"].as_str().and_then(crate::clock::parse_time),
    })
}

/// GitLab's hook event: `id`, `trigger`, `response_status` (a code, or words such as
/// `internal error`), and the request's headers, whose `Idempotency-Key` (else
/// `X-Gitlab-Event-UUID`) is the delivery `git-webhook` saw.
fn gitlab_event(item: &Value) -> Result<HookDelivery, String> {
    let id = item["id"].as_u64().ok_or("an event has no numeric id")?;
    let headers = item["request_headers"].as_object().ok_or_else(|| format!("event {id} has no request_headers"))?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .filter(|g| valid_guid(g))
    };
    let guid = header("idempotency-key")
        .or_else(|| header("x-gitlab-event-uuid"))
        .ok_or_else(|| format!("event {id} names no Idempotency-Key or X-Gitlab-Event-UUID"))?;
    let status_code = match &item["response_status"] {
        Value::Number(n) => n.as_u64().and_then(|c| u16::try_from(c).ok()).unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    };
    Ok(HookDelivery {
        id,
        guid: guid.to_owned(),
        status_code,
        event: item["trigger"].as_str().unwrap_or_default().to_owned(),
        delivered_at: item["created_at"].as_str().and_then(crate::clock::parse_time),
    })
}

/// A delivery id as a server gives it (a UUID, an idempotency key): it becomes part of a table
/// key, so nothing else is taken.
fn valid_guid(guid: &str) -> bool {
    (1..=100).contains(&guid.len())
        && guid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git_api::credentials::Credentials;
    use serde_json::json;

    fn url(api: ServerApi, hook: &str, base: &str) -> (String, String) {
        let hook = Hook::parse(api, hook).unwrap();
        (
            Endpoint::HookDeliveries { hook: &hook }.url(base),
            Endpoint::Redelivery { hook: &hook, delivery_id: 9 }.url(base),
        )
    }

    #[test]
    fn each_hook_has_its_servers_paths_at_the_credentials_base() {
        let base = "https://api.github.com";
        assert_eq!(
            url(ServerApi::GitHub, "repo:acme/app:12", base),
            (
                "https://api.github.com/repos/acme/app/hooks/12/deliveries?per_page=100".into(),
                "https://api.github.com/repos/acme/app/hooks/12/deliveries/9/attempts".into()
            )
        );
        assert_eq!(
            url(ServerApi::GitHub, "org:acme-inc:7", "https://ghe.example.com/api/v3").1,
            "https://ghe.example.com/api/v3/orgs/acme-inc/hooks/7/deliveries/9/attempts"
        );
        assert_eq!(url(ServerApi::GitHub, "app", base).0, "https://api.github.com/app/hook/deliveries?per_page=100");
        assert_eq!(
            url(ServerApi::GitLab, "repo:group/sub/app:3", "https://gitlab.com/api/v4"),
            (
                "https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/hooks/3/events?per_page=100&page=1".into(),
                "https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/hooks/3/events/9/resend".into()
            )
        );
    }

    #[test]
    fn a_hook_names_only_what_its_server_allows() {
        for bad in [
            "repo:acme/app",
            "repo:acme/app:0",
            "repo:acme/../x:1",
            "repo:acme/app?x=1:2",
            "org:ac/me:1",
            "org:acme:x",
            "user:me:1",
            "",
        ] {
            assert!(Hook::parse(ServerApi::GitHub, bad).is_err(), "{bad}");
        }
        assert!(Hook::parse(ServerApi::GitLab, "app").is_err());
        assert!(Hook::parse(ServerApi::GitLab, "org:acme:1").is_err());
        let manual = Hook::parse(ServerApi::BitbucketCloud, "repo:acme/app:1").unwrap_err();
        assert!(manual.contains("manual"), "{manual}");
    }

    #[test]
    fn hooks_in_the_credentials_document_are_checked_when_it_is_read() {
        let parse = |doc: serde_json::Value| Credentials::parse(&doc.to_string());
        let ok =
            parse(json!({ "github": { "token": "t", "hooks": ["repo:acme/app:1", "org:acme:2", "repo:acme/app:1"] } }))
                .unwrap();
        assert_eq!(ok.entries()[0].hooks.len(), 2, "a repeated hook is swept once");
        let app = parse(json!({ "github": { "token": "t", "hooks": ["app"] } })).unwrap_err();
        assert!(app.contains("app_id"), "{app}");
        let outside =
            parse(json!({ "github": { "token": "t", "repositories": ["acme/web"], "hooks": ["repo:acme/app:1"] } }))
                .unwrap_err();
        assert!(outside.contains("does not serve"), "{outside}");
        let gitea =
            parse(json!({ "gitea:git.example.com": { "token": "t", "hooks": ["repo:acme/app:1"] } })).unwrap_err();
        assert!(gitea.contains("manual"), "{gitea}");
        let many: Vec<String> = (1..=51).map(|i| format!("repo:acme/app:{i}")).collect();
        assert!(parse(json!({ "github": { "token": "t", "hooks": many } })).unwrap_err().contains("at most 50"));
    }

    #[test]
    fn a_gitlab_event_is_its_idempotency_key_and_its_answer() {
        // The shape of GitLab's "List project webhook events" example (17.2 and later).
        let page = json!([
            { "id": 2, "url": "https://example.net/", "trigger": "push_hooks",
              "request_headers": { "Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
                                   "X-Gitlab-Event-UUID": "9cebe914-4827-408f-b014-cfa23a47a35f", "Idempotency-Key": "a5461c4d-9c7f-4af9-add6-cddebe3c426f" },
              "request_data": "{\"object_kind\":\"push\"}", "response_headers": {}, "response_body": "", "execution_duration": 1.2,
              "response_status": "503" },
            { "id": 1, "url": "https://example.net/", "trigger": "merge_request_hooks",
              "request_headers": { "X-Gitlab-Event-UUID": "0f0f" }, "response_status": "internal error" }
        ]);
        let read = read_page(ServerApi::GitLab, page.to_string().as_bytes()).unwrap();
        assert_eq!(read[0].guid, "a5461c4d-9c7f-4af9-add6-cddebe3c426f");
        assert_eq!((read[0].id, read[0].status_code, read[0].event.as_str()), (2, 503, "push_hooks"));
        assert_eq!((read[1].guid.as_str(), read[1].status_code), ("0f0f", 0));
        assert!(read_page(ServerApi::GitLab, br#"[{"id": 3, "request_headers": {}}]"#).is_err());
        assert!(read_page(ServerApi::GitHub, b"{}").is_err());
    }
}

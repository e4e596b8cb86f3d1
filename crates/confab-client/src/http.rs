//! The REST API.

use confab_proto::api::ChannelPresence;
use confab_proto::api::{
    AddMember, AuthResponse, ChannelList, CreateChannel, Credentials, ErrorResponse, HistoryPage,
    MarkRead, MemberList, ReceiptSummary, SendMessage, SetRole, UserList,
};
use confab_proto::{
    Ack, ChannelId, ChannelSummary, ErrorBody, ErrorCode, Presence, ReadState, Role, User, UserId,
};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{ClientError, Result};

/// A page of history to ask for; see `GET /api/v1/channels/{id}/messages`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryQuery {
    pub after: Option<u64>,
    pub before: Option<u64>,
    pub limit: Option<u32>,
}

/// A REST client for one server, optionally holding a session token. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Http {
    /// A client for the server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>) -> Self {
        Http {
            base: base.into().trim_end_matches('/').to_owned(),
            token: None,
            client: reqwest::Client::new(),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same client, authenticating with `token`.
    pub fn with_token(&self, token: &str) -> Self {
        Http {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn check(response: Response) -> Result<Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        match response.json::<ErrorResponse>().await {
            Ok(body) => Err(ClientError::Api(body.error)),
            Err(_) => Err(ClientError::Api(ErrorBody::new(
                ErrorCode::Internal,
                format!("HTTP {status} without an error body"),
            ))),
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        Ok(Self::check(req.send().await?).await?.json().await?)
    }

    async fn call_empty<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<()> {
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        Self::check(req.send().await?).await?;
        Ok(())
    }

    /// Creates an account; the response carries a token for it.
    pub async fn register(&self, username: &str, password: &str) -> Result<AuthResponse> {
        let creds = Credentials {
            username: username.into(),
            password: password.into(),
        };
        self.call(Method::POST, "/register", Some(&creds)).await
    }

    /// Logs in, creating a new session token.
    pub async fn login(&self, username: &str, password: &str) -> Result<AuthResponse> {
        let creds = Credentials {
            username: username.into(),
            password: password.into(),
        };
        self.call(Method::POST, "/login", Some(&creds)).await
    }

    /// Revokes this client's token.
    pub async fn logout(&self) -> Result<()> {
        self.call_empty::<()>(Method::POST, "/logout", None).await
    }

    /// The account this token belongs to.
    pub async fn me(&self) -> Result<User> {
        self.call::<(), _>(Method::GET, "/me", None).await
    }

    /// Users whose name starts with `prefix`.
    pub async fn users(&self, prefix: &str) -> Result<Vec<User>> {
        let list: UserList = Self::check(
            self.request(Method::GET, "/users")
                .query(&[("prefix", prefix)])
                .send()
                .await?,
        )
        .await?
        .json()
        .await?;
        Ok(list.users)
    }

    /// The direct channel with `peer` (a username), created if needed.
    pub async fn create_direct(&self, peer: &str) -> Result<ChannelSummary> {
        let req = CreateChannel::Direct { peer: peer.into() };
        self.call(Method::POST, "/channels", Some(&req)).await
    }

    /// A new group with these members (usernames); I am its owner.
    pub async fn create_group(&self, name: &str, members: &[&str]) -> Result<ChannelSummary> {
        let req = CreateChannel::Group {
            name: name.into(),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        };
        self.call(Method::POST, "/channels", Some(&req)).await
    }

    /// My channels.
    pub async fn channels(&self) -> Result<Vec<ChannelSummary>> {
        Ok(self
            .call::<(), ChannelList>(Method::GET, "/channels", None)
            .await?
            .channels)
    }

    /// One of my channels.
    pub async fn channel(&self, id: ChannelId) -> Result<ChannelSummary> {
        self.call::<(), _>(Method::GET, &format!("/channels/{id}"), None)
            .await
    }

    /// A channel's members.
    pub async fn members(&self, id: ChannelId) -> Result<MemberList> {
        self.call::<(), _>(Method::GET, &format!("/channels/{id}/members"), None)
            .await
    }

    /// Adds `username` to a group.
    pub async fn add_member(&self, id: ChannelId, username: &str) -> Result<()> {
        let req = AddMember {
            username: username.into(),
        };
        self.call_empty(Method::POST, &format!("/channels/{id}/members"), Some(&req))
            .await
    }

    /// Removes a member from a group.
    pub async fn remove_member(&self, id: ChannelId, user: UserId) -> Result<()> {
        self.call_empty::<()>(
            Method::DELETE,
            &format!("/channels/{id}/members/{user}"),
            None,
        )
        .await
    }

    /// Sets a member's role.
    pub async fn set_role(&self, id: ChannelId, user: UserId, role: Role) -> Result<()> {
        self.call_empty(
            Method::PUT,
            &format!("/channels/{id}/members/{user}/role"),
            Some(&SetRole { role }),
        )
        .await
    }

    /// Leaves a group.
    pub async fn leave(&self, id: ChannelId) -> Result<()> {
        self.call_empty::<()>(Method::POST, &format!("/channels/{id}/leave"), None)
            .await
    }

    /// Sends a message with a given idempotency key.
    pub async fn send(&self, id: ChannelId, client_id: &str, body: &str) -> Result<Ack> {
        let req = SendMessage {
            client_id: client_id.into(),
            body: body.into(),
        };
        self.call(
            Method::POST,
            &format!("/channels/{id}/messages"),
            Some(&req),
        )
        .await
    }

    /// A page of a channel's history.
    pub async fn history(&self, id: ChannelId, q: HistoryQuery) -> Result<HistoryPage> {
        let mut params = Vec::new();
        if let Some(a) = q.after {
            params.push(("after", a.to_string()));
        }
        if let Some(b) = q.before {
            params.push(("before", b.to_string()));
        }
        if let Some(l) = q.limit {
            params.push(("limit", l.to_string()));
        }
        let req = self
            .request(Method::GET, &format!("/channels/{id}/messages"))
            .query(&params);
        Ok(Self::check(req.send().await?).await?.json().await?)
    }

    /// Delivered and read counts for `seq` (default: the newest), with per-member pointers in
    /// small channels.
    pub async fn receipts(&self, id: ChannelId, seq: Option<u64>) -> Result<ReceiptSummary> {
        let mut req = self.request(Method::GET, &format!("/channels/{id}/receipts"));
        if let Some(seq) = seq {
            req = req.query(&[("seq", seq)]);
        }
        Ok(Self::check(req.send().await?).await?.json().await?)
    }

    /// A user's presence (with last seen when offline).
    pub async fn presence(&self, user: UserId) -> Result<Presence> {
        self.call::<(), _>(Method::GET, &format!("/users/{user}/presence"), None)
            .await
    }

    /// How many of a channel's members are online or idle.
    pub async fn channel_presence(&self, id: ChannelId) -> Result<ChannelPresence> {
        self.call::<(), _>(Method::GET, &format!("/channels/{id}/presence"), None)
            .await
    }

    /// Moves my read pointer.
    pub async fn mark_read(&self, id: ChannelId, seq: u64) -> Result<ReadState> {
        self.call(
            Method::POST,
            &format!("/channels/{id}/read"),
            Some(&MarkRead { seq }),
        )
        .await
    }
}

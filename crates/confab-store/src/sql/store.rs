//! The one implementation of [`Store`]: each method says whether it reads or writes and which rule
//! of the core it runs. The guarantees are documented on the trait.

use async_trait::async_trait;
use confab_proto::api::HistoryPage;
use confab_proto::{
    ChannelId, ChannelSummary, Event, Member, ReadState, Receipt, Role, User, UserId,
};

use super::{channel, event, member, receipt, user, Backend, NewMessage, SqlStore};
use crate::{
    Appended, Credentials, Delivery, DirectChannel, HistoryQuery, Position, Result, Retention,
    SendRecord, Store,
};

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User> {
        let (ids, name, hash) = (
            self.ids.clone(),
            username.to_owned(),
            password_hash.to_owned(),
        );
        self.backend
            .write(move |tx| {
                Box::pin(async move { user::create_user(tx, &ids, &name, &hash).await })
            })
            .await
    }

    async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let name = username.to_owned();
        self.backend
            .read(move |tx| Box::pin(async move { user::credentials(tx, &name).await }))
            .await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.backend
            .read(move |tx| Box::pin(user::user(tx, id)))
            .await
    }

    async fn users_by_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<User>> {
        let prefix = prefix.to_owned();
        self.backend
            .read(move |tx| {
                Box::pin(async move { user::users_by_prefix(tx, &prefix, limit).await })
            })
            .await
    }

    async fn users_by_name(&self, usernames: &[String]) -> Result<Vec<User>> {
        let names = usernames.to_vec();
        self.backend
            .read(move |tx| Box::pin(async move { user::users_by_name(tx, &names).await }))
            .await
    }

    async fn insert_token(&self, token_hash: &[u8], user: UserId) -> Result<()> {
        let hash = token_hash.to_vec();
        self.backend
            .write(move |tx| Box::pin(async move { user::insert_token(tx, &hash, user).await }))
            .await
    }

    async fn token_user(&self, token_hash: &[u8]) -> Result<Option<User>> {
        let hash = token_hash.to_vec();
        self.backend
            .read(move |tx| Box::pin(async move { user::token_user(tx, &hash).await }))
            .await
    }

    async fn delete_token(&self, token_hash: &[u8]) -> Result<bool> {
        let hash = token_hash.to_vec();
        self.backend
            .write(move |tx| Box::pin(async move { user::delete_token(tx, &hash).await }))
            .await
    }

    async fn create_direct(&self, a: UserId, b: UserId) -> Result<DirectChannel> {
        let ids = self.ids.clone();
        self.backend
            .write(move |tx| Box::pin(async move { channel::create_direct(tx, &ids, a, b).await }))
            .await
    }

    async fn create_group(
        &self,
        owner: UserId,
        name: &str,
        members: &[UserId],
        max_members: u32,
    ) -> Result<Event> {
        let (ids, name, members) = (self.ids.clone(), name.to_owned(), members.to_vec());
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    channel::create_group(tx, &ids, owner, &name, &members, max_members).await
                })
            })
            .await
    }

    async fn add_member(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
        max_members: u32,
    ) -> Result<Event> {
        let ids = self.ids.clone();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    member::add_member(tx, &ids, channel, actor, user, max_members).await
                })
            })
            .await
    }

    async fn remove_member(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
    ) -> Result<Vec<Event>> {
        let ids = self.ids.clone();
        self.backend
            .write(move |tx| {
                Box::pin(async move { member::remove_member(tx, &ids, channel, actor, user).await })
            })
            .await
    }

    async fn set_role(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
        role: Role,
    ) -> Result<Event> {
        let ids = self.ids.clone();
        self.backend
            .write(move |tx| {
                Box::pin(
                    async move { member::set_role(tx, &ids, channel, actor, user, role).await },
                )
            })
            .await
    }

    async fn append_message(
        &self,
        channel: ChannelId,
        sender: UserId,
        client_id: &str,
        body: &str,
    ) -> Result<Appended> {
        let message = NewMessage {
            channel,
            sender,
            client_id: client_id.to_owned(),
            body: body.to_owned(),
        };
        self.backend.append(self.ids.clone(), message).await
    }

    async fn append_messages(&self, messages: Vec<NewMessage>) -> Result<Vec<Result<Appended>>> {
        let ids = self.ids.clone();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let mut results = Vec::with_capacity(messages.len());
                    for message in &messages {
                        results.push(event::append_message(tx, &ids, message).await?);
                    }
                    Ok(results)
                })
            })
            .await
    }

    async fn find_send(&self, sender: UserId, client_id: &str) -> Result<Option<SendRecord>> {
        let client_id = client_id.to_owned();
        self.backend
            .read(move |tx| Box::pin(async move { event::find_send(tx, sender, &client_id).await }))
            .await
    }

    async fn member_role(&self, channel: ChannelId, user: UserId) -> Result<Option<Role>> {
        self.backend
            .read(move |tx| Box::pin(member::role_in(tx, channel, user)))
            .await
    }

    async fn members(&self, channel: ChannelId) -> Result<Vec<Member>> {
        self.backend
            .read(move |tx| Box::pin(member::members(tx, channel)))
            .await
    }

    async fn channels_of(&self, user: UserId) -> Result<Vec<ChannelSummary>> {
        self.backend
            .read(move |tx| Box::pin(channel::channels_of(tx, user)))
            .await
    }

    async fn channel_of(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelSummary>> {
        self.backend
            .read(move |tx| Box::pin(channel::channel_of(tx, channel, user)))
            .await
    }

    async fn history(&self, channel: ChannelId, query: HistoryQuery) -> Result<HistoryPage> {
        self.backend
            .read(move |tx| Box::pin(event::history(tx, channel, query)))
            .await
    }

    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: u64) -> Result<ReadState> {
        self.backend
            .write(move |tx| Box::pin(receipt::mark_read(tx, channel, user, seq)))
            .await
    }

    async fn mark_delivered(&self, deliveries: &[Delivery]) -> Result<Vec<(Receipt, u32)>> {
        if deliveries.is_empty() {
            // No transaction for nothing.
            return Ok(Vec::new());
        }
        let deliveries = deliveries.to_vec();
        self.backend
            .write(move |tx| {
                Box::pin(async move { receipt::mark_delivered(tx, &deliveries).await })
            })
            .await
    }

    async fn receipt(&self, channel: ChannelId, user: UserId) -> Result<Option<Receipt>> {
        self.backend
            .read(move |tx| Box::pin(receipt::receipt(tx, channel, user)))
            .await
    }

    async fn receipts(&self, channel: ChannelId) -> Result<Vec<Receipt>> {
        self.backend
            .read(move |tx| Box::pin(receipt::receipts(tx, channel)))
            .await
    }

    async fn receipts_since(
        &self,
        user: UserId,
        since: i64,
        max_members: u32,
    ) -> Result<Vec<Receipt>> {
        self.backend
            .read(move |tx| Box::pin(receipt::receipts_since(tx, user, since, max_members)))
            .await
    }

    async fn positions(&self, user: UserId) -> Result<Vec<Position>> {
        self.backend
            .read(move |tx| Box::pin(channel::positions(tx, user)))
            .await
    }

    async fn prune(&self, retention: Retention) -> Result<u64> {
        let cuts = self
            .backend
            .read(move |tx| Box::pin(event::prune_cuts(tx, retention)))
            .await?;
        let mut deleted = 0;
        // One short transaction per channel, so pruning never holds the writer for long.
        for (channel, upto) in cuts {
            deleted += self
                .backend
                .write(move |tx| Box::pin(event::cut(tx, channel, upto)))
                .await?;
        }
        Ok(deleted)
    }

    async fn touch_last_seen(&self, user: UserId, ts: i64) -> Result<()> {
        self.backend
            .write(move |tx| Box::pin(user::touch_last_seen(tx, user, ts)))
            .await
    }

    async fn last_seen(&self, user: UserId) -> Result<Option<i64>> {
        self.backend
            .read(move |tx| Box::pin(user::last_seen(tx, user)))
            .await
    }

    async fn contacts(&self, user: UserId, max_members: u32) -> Result<Vec<UserId>> {
        self.backend
            .read(move |tx| Box::pin(user::contacts(tx, user, max_members)))
            .await
    }

    async fn close(&self) {
        self.backend.close().await;
    }
}

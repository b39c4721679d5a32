//! Application protocols beside replication: an app opens its own protomux channels on a
//! replication connection (JS `Protomux.from(stream).createChannel(...)` next to
//! `store.replicate(stream)`), and receives hypercore extension messages.

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;

use crate::crypto::hash::Hash;
use crate::protomux::ChannelId;

/// What the connection tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// The remote opened an application channel we have not opened: answer with
    /// [`UserHandle::open`] (same protocol and id) or [`UserHandle::reject`].
    RemoteOpen {
        /// Protocol name.
        protocol: String,
        /// Channel id, if any.
        id: Option<Vec<u8>>,
    },
    /// An application channel is open on both sides.
    Opened {
        /// Local channel id, for sending.
        channel: ChannelId,
        /// Protocol name.
        protocol: String,
        /// Channel id, if any.
        id: Option<Vec<u8>>,
        /// The remote's handshake payload.
        handshake: Vec<u8>,
    },
    /// A message on an application channel.
    Message {
        /// Channel.
        channel: ChannelId,
        /// Protomux message type.
        message_type: u64,
        /// Payload.
        payload: Vec<u8>,
    },
    /// An application channel closed.
    Closed {
        /// Channel.
        channel: ChannelId,
        /// The remote closed or rejected it.
        remote: bool,
    },
    /// A hypercore extension message from a peer of a replicated core.
    Extension {
        /// Which core.
        discovery_key: Hash,
        /// Extension name.
        name: String,
        /// Payload.
        message: Vec<u8>,
    },
}

/// What the application asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserCommand {
    Open { protocol: String, id: Option<Vec<u8>>, handshake: Vec<u8> },
    Reject { protocol: String, id: Option<Vec<u8>> },
    Send { channel: ChannelId, message_type: u64, payload: Vec<u8> },
    Close { channel: ChannelId },
    Extension { discovery_key: Hash, name: String, message: Vec<u8> },
}

/// The application's end: open channels, send, and read [`UserEvent`]s.
#[derive(Debug)]
pub struct UserHandle {
    commands: UnboundedSender<UserCommand>,
    events: UnboundedReceiver<UserEvent>,
}

/// The connection's end; pass it in `ConnectionOptions::user`.
#[derive(Debug)]
pub struct UserChannels {
    pub(crate) commands: UnboundedReceiver<UserCommand>,
    pub(crate) events: UnboundedSender<UserEvent>,
}

/// A connected pair of ends.
pub fn user_channels() -> (UserHandle, UserChannels) {
    let (ctx, crx) = unbounded();
    let (etx, erx) = unbounded();
    (UserHandle { commands: ctx, events: erx }, UserChannels { commands: crx, events: etx })
}

/// The connection has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the replication connection is closed")]
pub struct ConnectionClosed;

impl UserHandle {
    fn command(&self, c: UserCommand) -> Result<(), ConnectionClosed> {
        self.commands.unbounded_send(c).map_err(|_| ConnectionClosed)
    }

    /// Opens a channel (or answers a [`UserEvent::RemoteOpen`]); [`UserEvent::Opened`]
    /// follows once the remote opened it too.
    pub fn open(&self, protocol: &str, id: Option<&[u8]>, handshake: &[u8]) -> Result<(), ConnectionClosed> {
        self.command(UserCommand::Open {
            protocol: protocol.to_owned(),
            id: id.map(<[u8]>::to_vec),
            handshake: handshake.to_vec(),
        })
    }

    /// Refuses a remote's open.
    pub fn reject(&self, protocol: &str, id: Option<&[u8]>) -> Result<(), ConnectionClosed> {
        self.command(UserCommand::Reject { protocol: protocol.to_owned(), id: id.map(<[u8]>::to_vec) })
    }

    /// Sends a message on an open channel.
    pub fn send(
        &self,
        channel: ChannelId,
        message_type: u64,
        payload: &[u8],
    ) -> Result<(), ConnectionClosed> {
        self.command(UserCommand::Send { channel, message_type, payload: payload.to_vec() })
    }

    /// Closes a channel.
    pub fn close(&self, channel: ChannelId) -> Result<(), ConnectionClosed> {
        self.command(UserCommand::Close { channel })
    }

    /// Sends a hypercore extension message to every peer of a core.
    pub fn extension(&self, discovery_key: Hash, name: &str, message: &[u8]) -> Result<(), ConnectionClosed> {
        self.command(UserCommand::Extension {
            discovery_key,
            name: name.to_owned(),
            message: message.to_vec(),
        })
    }

    /// The next event; `None` once the connection has ended.
    pub async fn next_event(&mut self) -> Option<UserEvent> {
        self.events.next().await
    }
}
